//! Compiles `proto/` into Rust (tonic + prost) and writes the descriptor set that server
//! reflection serves. protoc comes from `protoc-bin-vendored` unless `PROTOC` is set.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("PROTOC").is_none() {
        // SAFETY-free: build scripts are single-threaded; set_var is fine here.
        let protoc = protoc_bin_vendored::protoc_bin_path()?;
        // Edition 2024 marks set_var unsafe; pass protoc through the builder instead.
        let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
        return compile(Some(protoc), out);
    }
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    compile(None, out)
}

fn compile(
    protoc: Option<std::path::PathBuf>,
    out: std::path::PathBuf,
) -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let mut config = tonic_prost_build::Config::new();
    if let Some(p) = protoc {
        config.protoc_executable(p);
    }
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // prost with small buffers (src/service/codec.rs): tonic's 8 KiB per call is for
        // large messages; a check and its answer are under 100 bytes.
        .codec_path("crate::service::codec::SmallCodec")
        .file_descriptor_set_path(out.join("hotzone_descriptor.bin"))
        .compile_with_config(config, &["proto/fraudhotzone/v1/hotzone.proto"], &["proto"])?;
    Ok(())
}
