//! Compiles the service contract in ../../proto (client side only).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../../proto");
    let mut config = tonic_prost_build::Config::new();
    if std::env::var_os("PROTOC").is_none() {
        config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    }
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        .compile_with_config(
            config,
            &["../../proto/fraudhotzone/v1/hotzone.proto"],
            &["../../proto"],
        )?;
    Ok(())
}
