//! Parquet and Arrow IPC readers: files -> record batches, handed to [`batch::visit_batch`].
//!
//! Parquet files are split into row groups so that several workers read one file at once
//! (the footer is decoded once per file and shared);
//! only the REFERENCE.md §2 columns are decoded (projection). `duration_s` is only decoded when it can
//! reject a row: an integer column chunk whose statistics say no value is negative cannot, so
//! it is skipped. Plain-encoded string columns are read from their pages by [`plain_pages`]
//! (no Arrow array); the others are read as dictionaries where the row group stores them so,
//! else as string views. Timestamps with or without a zone are instants
//! (naive means UTC; a legacy INT96 one is read as milliseconds, so that no instant wraps
//! around); integer time columns are epoch milliseconds; string columns of any
//! Arrow string encoding are accepted.
//!
//! [`batch::visit_batch`]: crate::ingest::batch::visit_batch

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field as ArrowField, FieldRef, Schema, TimeUnit};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
    RowSelector,
};
use parquet::file::metadata::{ParquetMetaData, RowGroupMetaData};
use parquet::file::statistics::Statistics;

use crate::error::{Error, Result};
use crate::ingest::RowSink;
use crate::ingest::batch::{
    DictCache, extension_refused, instant_of_ticks, visit_batch, visit_batch_with,
};
use crate::ingest::columns::{ColumnMap, Field, resolve_required};
use crate::ingest::interpret::{EVENT_TIME_RANGE, Interpreter};
use crate::ingest::partitions::Partitions;
use crate::ingest::plain_pages::{self, PagePool, PlainStrings};

/// Rows per decoded batch.
const BATCH_ROWS: usize = 64 * 1024;

/// A Parquet file's footer, read and decoded once and shared by the units (row groups) of the
/// file: each unit used to decode it twice again.
pub type Footer = Arc<ParquetMetaData>;

/// The footer of a Parquet file, and its row groups with the 0-based index of each one's
/// first row.
pub fn parquet_row_groups(path: &Path) -> Result<(Footer, Vec<(usize, u64)>)> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let footer = super::claims::parquet_footer(path, &file)?;
    let meta = ArrowReaderMetadata::try_new(footer, ArrowReaderOptions::new())
        .map_err(|e| Error::read(path, e))?;
    super::claims::depth_checked(path, meta.metadata())?;
    super::claims::chunks_apart(path, meta.metadata())?;
    let mut first = 0u64;
    let groups = (meta.metadata().row_groups().iter().enumerate())
        .map(|(i, rg)| {
            let at = first;
            first += rg.num_rows() as u64;
            (i, at)
        })
        .collect();
    Ok((Arc::clone(meta.metadata()), groups))
}

/// What [`probe_parquet`] found in a Parquet file.
#[derive(Clone, Debug)]
pub struct Probe {
    /// The compressed bytes of each row group.
    pub row_group_bytes: Vec<u64>,
    /// The columns a read takes, as `(column, canonical name, kind)`; the kind is
    /// `timestamp`, `int96` (a legacy INT96 timestamp), `integer`, `float`, `text` or
    /// `other` for a column of the file, what another reader of the file must also see for
    /// the values to agree, and `partition` for a `key=value` directory's column
    /// ([`partitions`](crate::ingest::partitions)), the column then named by its key.
    pub columns: Vec<(String, &'static str, &'static str)>,
}

/// What a column holds, as [`Probe::columns`] names it.
fn kind_of(t: &DataType, int96: bool) -> &'static str {
    match t {
        DataType::Timestamp(..) if int96 => "int96",
        DataType::Timestamp(..) => "timestamp",
        t if t.is_integer() => "integer",
        t if t.is_floating() => "float",
        DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView => "text",
        DataType::Dictionary(_, v) if matches!(**v, DataType::Utf8 | DataType::LargeUtf8) => "text",
        _ => "other",
    }
}

/// True for the codecs this build decompresses (the `parquet` crate's features).
fn readable(c: parquet::basic::Compression) -> bool {
    use parquet::basic::Compression as C;
    matches!(
        c,
        C::UNCOMPRESSED | C::SNAPPY | C::GZIP(_) | C::LZ4 | C::LZ4_RAW | C::ZSTD(_) | C::BROTLI(_)
    )
}

/// An error naming the file and the column when root column `root` (named `name`) is not
/// one a read takes whatever its values: a chunk of it in row group `rg` is compressed with a
/// codec this build does not read, or its type is JSON or BSON (a document, not the text or
/// number of a field: DuckDB's and pyarrow's JSON columns are so typed).
fn codecs_readable(
    path: &Path,
    rg: &RowGroupMetaData,
    descr: &parquet::schema::types::SchemaDescriptor,
    root: usize,
    name: &str,
) -> Result<()> {
    use parquet::basic::{ConvertedType, LogicalType};
    let info = descr.root_schema().get_fields()[root].get_basic_info();
    let document = match (info.logical_type_ref(), info.converted_type()) {
        (Some(LogicalType::Json), _) | (None, ConvertedType::JSON) => Some("JSON"),
        (Some(LogicalType::Bson), _) | (None, ConvertedType::BSON) => Some("BSON"),
        _ => None,
    };
    if let Some(document) = document {
        return Err(Error::read(
            path,
            format!(
                "column {name} is of Parquet's {document} type (a document); expected text or \
                 numbers: write the field as a string column"
            ),
        ));
    }
    for leaf in leaves_of(descr, root) {
        let codec = rg.column(leaf).compression();
        if !readable(codec) {
            return Err(Error::read(
                path,
                format!("column {name} is compressed with {codec}, which this build does not read"),
            ));
        }
    }
    Ok(())
}

/// The refusals a read of a file of Arrow schema `schema` makes from its columns alone (a
/// required column missing, a column of a type the reader does not take, an extension type on
/// `event_time`): an empty batch of the schema goes through [`visit_batch`], the code a read
/// runs on every batch.
fn columns_taken(
    path: &Path,
    schema: &arrow::datatypes::SchemaRef,
    columns: &ColumnMap,
) -> Result<()> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let with_parts = Partitions::of(path, &names, columns).schema(schema);
    let empty = arrow::array::RecordBatch::new_empty(with_parts);
    struct Nothing;
    impl RowSink for Nothing {
        fn row(
            &mut self,
            _: u64,
            _: std::result::Result<crate::ingest::Event, crate::ingest::rejects::RejectReason>,
        ) -> Result<()> {
            Ok(())
        }
    }
    let mut interp = Interpreter::new(None);
    let mut cache = DictCache::default();
    visit_batch(
        path,
        &empty,
        columns,
        0,
        &mut cache,
        &mut interp,
        &mut Nothing,
    )
}

/// Checks that the kernel reads Parquet file `path` with `columns` (the required columns are
/// there, every column it reads has a type it accepts), with the same code a read runs (an
/// empty batch of the file's schema goes through [`visit_batch`]), and says which columns a
/// read takes and how large each row group is. `hotzone.spark` calls it on the driver before
/// it gives a file's row groups to tasks, so an unreadable file is found before any task runs.
pub fn probe_parquet(path: &Path, columns: &ColumnMap) -> Result<Probe> {
    // A file of no bytes holds no rows, as every read takes it (`ingest::plan`): no row
    // group, no column.
    if std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0) {
        return Ok(Probe {
            row_group_bytes: Vec::new(),
            columns: Vec::new(),
        });
    }
    let (footer, _) = parquet_row_groups(path)?;
    let meta = ArrowReaderMetadata::try_new(Arc::clone(&footer), ArrowReaderOptions::new())
        .map_err(|e| Error::read(path, e))?;
    columns_taken(path, meta.schema(), columns)?;
    let schema = meta.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let descr = footer.file_metadata().schema_descr();
    let parts = Partitions::of(path, &names, columns);
    let all = parts.after(&names);
    let mut taken = Vec::new();
    for (f, i) in Field::ALL.into_iter().zip(columns.resolve(&all)) {
        let Some(i) = i else { continue };
        if i >= names.len() {
            // A `key=value` directory's column (`partitions`): no Parquet column to check.
            taken.push((all[i].to_owned(), f.name(), "partition"));
            continue;
        }
        for rg in footer.row_groups() {
            codecs_readable(path, rg, descr, i, names[i])?;
        }
        let int96 = leaves_of(descr, i)
            .any(|c| descr.column(c).physical_type() == parquet::basic::Type::INT96);
        taken.push((
            names[i].to_owned(),
            f.name(),
            kind_of(schema.field(i).data_type(), int96),
        ));
    }
    Ok(Probe {
        row_group_bytes: (footer.row_groups().iter())
            .map(|rg| u64::try_from(rg.compressed_size()).unwrap_or(0))
            .collect(),
        columns: taken,
    })
}

/// Reads rows `part` of one row group of a Parquet file whose footer is `footer` (all of them:
/// `0..` its row count); `first_row` is the 0-based file row of the row group's first row.
/// The rows before the part are passed over a page at a time where the pages allow it (a
/// flat column's page header says how many rows it holds), so the parts of one large row
/// group are read by several workers without each decompressing the pages before its own.
/// `pages` keeps the worker's page buffers from one row group to the next ([`PagePool`]).
///
/// With `skip_outside`, a part whose `event_time` statistics prove every time accepted and
/// outside what the sink counts ([`RowSink::outside`]: a scan's window) is not read at all:
/// its rows are counted as not read ([`RowSink::not_read`]), after the checks a reading makes
/// of the file's columns (`columns_taken`, the codecs): whether a file is refused does not
/// depend on its statistics.
#[allow(clippy::too_many_arguments)]
pub fn read_parquet_row_group<R>(
    path: &Path,
    footer: &Footer,
    row_group: usize,
    part: std::ops::Range<usize>,
    first_row: u64,
    (columns, skip_outside): (&ColumnMap, bool),
    (interp, pages): (&mut Interpreter, &mut PagePool),
    rows: &mut R,
) -> Result<()>
where
    R: RowSink + ?Sized,
{
    let meta = ArrowReaderMetadata::try_new(Arc::clone(footer), ArrowReaderOptions::new())
        .map_err(|e| Error::read(path, e))?;
    let schema = meta.schema().clone();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    // Columns of `key=value` directories the file lacks come after the file's own
    // (`partitions`); `idx` names the file's columns only.
    let mut parts = Partitions::of(path, &names, columns);
    let mut idx = resolve_required(columns, &parts.after(&names), path)?
        .map(|i| i.filter(|i| *i < names.len()));
    // Checked on the file's schema: the batches of a column the statistics let the read skip
    // below never show it.
    for read in Field::ALL {
        if let Some(root) = idx[read as usize] {
            extension_refused(path, read, schema.field(root))?;
        }
    }
    // Every column the mapping names must be decompressable here, including those the
    // statistics let the read skip below: whether a file is refused does not depend on them.
    let descr = footer.file_metadata().schema_descr();
    for root in idx.iter().flatten() {
        codecs_readable(
            path,
            footer.row_group(row_group),
            descr,
            *root,
            names[*root],
        )?;
    }
    // The mapping as resolved, before a skip below drops a field from `idx`.
    let resolved = idx;
    let rg = footer.row_group(row_group);
    let all = usize::try_from(rg.num_rows()).unwrap_or(0);
    if skip_outside
        && let Some(root) = idx[Field::EventTime as usize]
        && let Some((first, last)) =
            accepted_time_span(rg, descr, root, schema.field(root).data_type(), &resolved)
    {
        // A sink that trusts the statistics leaves the rows unread on their word; one that
        // does not (`outside_read`) has their instants read first, and only those.
        let unread = rows.outside(first, last)
            || (rows.outside_read(first, last)
                && read_time_span(path, &meta, row_group, part.clone(), root)?
                    .is_some_and(|(first, last)| rows.outside_read(first, last)));
        if unread {
            columns_taken(path, &schema, columns)?;
            let n = part.end.min(all).saturating_sub(part.start);
            rows.not_read(n as u64);
            return Ok(());
        }
    }
    if let Some(d) = idx[Field::DurationS as usize]
        && never_negative(
            footer.row_group(row_group),
            footer.file_metadata().schema_descr(),
            d,
            schema.field(d).data_type(),
        )
    {
        idx[Field::DurationS as usize] = None;
    }
    let encoded = dictionary_encoded(
        footer.row_group(row_group),
        footer.file_metadata().schema_descr(),
    );
    let int96_time = idx[Field::EventTime as usize].filter(|&r| {
        leaves_of(footer.file_metadata().schema_descr(), r).any(|c| {
            footer
                .file_metadata()
                .schema_descr()
                .column(c)
                .physical_type()
                == parquet::basic::Type::INT96
        })
    });
    let meta = with_type_hints(path, meta, &idx, &encoded, int96_time)?;
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    // Plain-encoded string columns are read from their pages here, the others by Arrow.
    let mut plain = Vec::new();
    for f in PLAIN_READ {
        let Some(root) = idx[f as usize] else {
            continue;
        };
        let leaves: Vec<usize> = leaves_of(descr, root).collect();
        // A column also mapped to a field Arrow must read (`event_time`, `duration_s`) stays
        // in the projection.
        let only_text =
            (Field::ALL.iter().zip(&idx)).all(|(g, r)| *r != Some(root) || PLAIN_READ.contains(g));
        // Read as string views by the Arrow reader, never as a dictionary (`with_type_hints`).
        let views = !encoded.contains(&root)
            || (Field::ALL.iter().zip(&idx))
                .all(|(g, r)| *r != Some(root) || *g == Field::Counterparty);
        if let [leaf] = leaves[..]
            && only_text
            && plain_pages::eligible(rg, descr, leaf, schema.field(root).data_type(), views)
        {
            let name = schema.field(root).name();
            let at = (row_group, first_row);
            let mut column = PlainStrings::open(path, &file, rg, descr, leaf, name, at)?;
            column.skip(part.start, pages)?;
            plain.push((root, name.as_str(), column));
        }
    }
    // `event_time` is not decoded where the chunk's statistics prove its values change
    // nothing for the sink (below); another column must remain for the reader to count rows.
    let constant_time = idx[Field::EventTime as usize].and_then(|root| {
        let t = meta.schema().field(root).data_type();
        let ms = one_day_time(rg, descr, root, t, &resolved, rows)?;
        let name = meta.schema().field(root).name().clone();
        Some((root, name, ms))
    });
    let mut roots: Vec<usize> = (idx.iter().flatten().copied())
        .filter(|r| plain.iter().all(|(p, ..)| p != r))
        .collect();
    let constant_time = constant_time.filter(|(root, ..)| roots.iter().any(|r| r != root));
    let constant_time = constant_time.map(|(root, name, ms)| {
        roots.retain(|r| *r != root);
        let field = Arc::new(ArrowField::new(
            name,
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ));
        let len = usize::try_from(rg.num_rows()).map_or(BATCH_ROWS, |n| n.min(BATCH_ROWS));
        let column: ArrayRef = Arc::new(TimestampMillisecondArray::from_value(ms, len));
        (field, column)
    });
    // Where the chunk as a whole does not prove one day, its pages may (`day_pages`).
    let day_pages = match &constant_time {
        Some(_) => None,
        None => idx[Field::EventTime as usize]
            .and_then(|root| one_day_pages(&file, rg, descr, root, meta.schema(), &resolved, rows)),
    };
    let reader = part_reader(
        path,
        file,
        meta.clone(),
        row_group,
        &roots,
        &part,
        day_pages,
    )?;
    let decoded = arrow::array::RecordBatchReader::schema(&reader);
    let mut row = first_row + part.start as u64;
    let mut cache = DictCache::default();
    for batch in reader {
        let mut batch = batch.map_err(|e| {
            // Only the rows of the batch that failed are decoded again, column by column: a
            // row group may hold (or claim) millions of rows past it, which the columns
            // without the fault would decode to their end (the `data_file` fuzz target's
            // finding: a 5 KB file held a scan for minutes).
            let from = usize::try_from(row - first_row).unwrap_or(part.end);
            let failed = from.min(part.end)..from.saturating_add(BATCH_ROWS).min(part.end);
            let at_fault = match is_utf8_error(&reader_message(&e)) {
                true => not_utf8(path, &meta, row_group, &roots, &failed),
                false => Vec::new(),
            };
            decode_error(path, row_group, &decoded, &at_fault, e)
        })?;
        if let Some((field, column)) = &constant_time {
            batch = with_column(path, &batch, field, column.slice(0, batch.num_rows()))?;
        }
        batch = parts.extend(path, batch)?;
        let spans = (plain.iter_mut())
            .map(|(_, name, column)| Ok((*name, Arc::new(column.next(batch.num_rows(), pages)?))))
            .collect::<Result<Vec<_>>>()?;
        visit_batch_with(path, &batch, &spans, columns, row, &mut cache, interp, rows)?;
        row += batch.num_rows() as u64;
    }
    // The chunks' ends are checked by the part that reads them.
    if part.end >= all {
        plain
            .iter()
            .try_for_each(|(_, _, column)| column.finish())?;
    }
    for (_, _, column) in plain {
        column.release(pages);
    }
    if row != first_row + part.end as u64 {
        return Err(Error::read(
            path,
            format!(
                "row group {row_group} gave {} rows of its part {}..{}",
                row - first_row - part.start as u64,
                part.start,
                part.end
            ),
        ));
    }
    Ok(())
}

/// The Arrow reader of columns `roots` of rows `part` of row group `row_group` of `file`, in
/// batches of [`BATCH_ROWS`]. The `parquet` crate takes memory for the counts a
/// delta-encoded page claims: such pages of those chunks are checked first (the string
/// chunks `plain_pages` reads are checked as read).
fn part_reader(
    path: &Path,
    file: File,
    meta: ArrowReaderMetadata,
    row_group: usize,
    roots: &[usize],
    part: &std::ops::Range<usize>,
    day_pages: Option<DayPages>,
) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader> {
    let footer = Arc::clone(meta.metadata());
    let (rg, descr) = (
        footer.row_group(row_group),
        footer.file_metadata().schema_descr(),
    );
    for &root in roots {
        for leaf in leaves_of(descr, root) {
            let label = format!(
                "row group {row_group}: column {}",
                meta.schema().field(root).name()
            );
            super::delta::check_chunk(path, &file, rg, descr, leaf, &label)?;
        }
    }
    let all = usize::try_from(rg.num_rows()).unwrap_or(0);
    let unbounded = (roots.iter())
        .flat_map(|&root| leaves_of(descr, root))
        .any(|leaf| super::inflate::decompressed_here(rg.column(leaf).compression()));
    if unbounded || day_pages.is_some() {
        // Pages the crate would decompress without a bound are decompressed by `inflate`,
        // and `event_time` pages proven to hold one day are replaced (`day_pages`); the same
        // reader of the same columns and rows, given its pages.
        let mask = ProjectionMask::roots(descr, roots.iter().copied());
        let levels = parquet::arrow::parquet_to_arrow_field_levels(
            descr,
            mask,
            Some(meta.schema().fields()),
        )
        .map_err(|e| Error::read(path, e))?;
        let chunks = OneRowGroup {
            path,
            file,
            footer: &footer,
            row_group,
            rows: all,
            day_pages,
        };
        return parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new_with_row_groups(
            &levels,
            &chunks,
            BATCH_ROWS,
            part_selection(part, all),
        )
        .map_err(|e| Error::read(path, e));
    }
    let builder =
        ParquetRecordBatchReaderBuilder::new_with_metadata(super::bounded::Bounded(file), meta);
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots.iter().copied());
    let mut builder = builder
        .with_row_groups(vec![row_group])
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS);
    if let Some(selection) = part_selection(part, all) {
        builder = builder.with_row_selection(selection);
    }
    builder.build().map_err(|e| Error::read(path, e))
}

/// Row group `row_group` of a file as the crate's Arrow reader asks for its column chunks,
/// each chunk's pages from [`super::inflate::pages`] (the codecs the crate decompresses
/// without a bound decompressed there, the others by the crate).
struct OneRowGroup<'a> {
    path: &'a Path,
    file: File,
    footer: &'a parquet::file::metadata::ParquetMetaData,
    row_group: usize,
    rows: usize,
    /// The `event_time` leaf whose pages proven to hold one day are replaced.
    day_pages: Option<DayPages>,
}

/// The leaf of an `event_time` column, the [`day_pages::plan`] of its chunk, and whether it
/// may hold nulls.
///
/// [`day_pages::plan`]: super::day_pages::plan
struct DayPages {
    leaf: usize,
    plan: super::day_pages::Plan,
    optional: bool,
}

/// The [`DayPages`] of the `event_time` column (root `root` of `schema`, the Arrow schema
/// the row group is read with) of row group `rg`, where some of its pages' statistics prove
/// one day to `rows` ([`RowSink::one_day`], as for the whole chunk in [`one_day_time`]):
/// a flat column of one `INT64` leaf read as ticks, mapped to no other field.
fn one_day_pages<R: RowSink + ?Sized>(
    file: &File,
    rg: &RowGroupMetaData,
    descr: &parquet::schema::types::SchemaDescriptor,
    root: usize,
    schema: &Schema,
    idx: &[Option<usize>],
    rows: &R,
) -> Option<DayPages> {
    let leaf = time_leaf(descr, root, idx)?;
    let column = descr.column(leaf);
    if column.max_rep_level() != 0 || column.max_def_level() > 1 {
        return None;
    }
    let t = schema.field(root).data_type();
    let optional = column.max_def_level() == 1;
    let plan = super::day_pages::plan(
        file,
        (rg.column(leaf), rg.num_rows()),
        optional,
        |lo, hi| {
            accepted_instants(t, lo, hi).is_some_and(|(first, last)| rows.one_day(first, last))
        },
    )?;
    Some(DayPages {
        leaf,
        plan,
        optional,
    })
}

impl parquet::arrow::arrow_reader::RowGroups for OneRowGroup<'_> {
    fn num_rows(&self) -> usize {
        self.rows
    }

    fn column_chunks(
        &self,
        leaf: usize,
    ) -> parquet::errors::Result<Box<dyn parquet::column::page::PageIterator>> {
        let rg = self.footer.row_group(self.row_group);
        let name = self
            .footer
            .file_metadata()
            .schema_descr()
            .column(leaf)
            .path()
            .string();
        let label = format!("row group {}: column {name}", self.row_group);
        let pages = super::inflate::pages(
            self.path,
            &self.file,
            rg.column(leaf),
            self.rows,
            (&label, true),
        )
        .map_err(|e| {
            // The caller names the file.
            parquet::errors::ParquetError::General(match e {
                Error::Read { message, .. } => message,
                e => e.to_string(),
            })
        })?;
        let pages = match &self.day_pages {
            Some(d) if d.leaf == leaf => Box::new(super::day_pages::OneDayPages::new(
                pages,
                d.plan.clone(),
                d.optional,
            )),
            _ => pages,
        };
        Ok(Box::new(OneChunk(Some(pages))))
    }

    fn row_groups(&self) -> Box<dyn Iterator<Item = &RowGroupMetaData> + '_> {
        Box::new(std::iter::once(self.footer.row_group(self.row_group)))
    }

    fn metadata(&self) -> &parquet::file::metadata::ParquetMetaData {
        self.footer
    }
}

/// The pages of one column chunk, as the crate's page iterator of one row group.
struct OneChunk(Option<Box<dyn parquet::column::page::PageReader>>);

impl Iterator for OneChunk {
    type Item = parquet::errors::Result<Box<dyn parquet::column::page::PageReader>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.take().map(Ok)
    }
}

impl parquet::column::page::PageIterator for OneChunk {}

/// The selection of rows `part` of a row group of `all` rows; `None` for all of them.
fn part_selection(part: &std::ops::Range<usize>, all: usize) -> Option<RowSelection> {
    if part.start == 0 && part.end >= all {
        return None;
    }
    let selectors = [
        RowSelector::skip(part.start),
        RowSelector::select(part.len()),
        RowSelector::skip(all.saturating_sub(part.end)),
    ];
    let selection: Vec<RowSelector> = selectors.into_iter().filter(|s| s.row_count > 0).collect();
    Some(RowSelection::from(selection))
}

/// The earliest and latest instants (UTC epoch milliseconds) the `event_time` cells of rows
/// `part` of row group `row_group` hold, read from the cells themselves (only that column is
/// decoded). `None` when a row would be rejected for its time (a null cell, an instant
/// outside `EVENT_TIME_RANGE`), which only a reading of the row counts, or when the column
/// (`root`, one leaf: [`accepted_time_span`] said so) is not read as 64-bit ticks. An error
/// where the column cannot be decoded, as a reading of the rows would fail.
fn read_time_span(
    path: &Path,
    meta: &ArrowReaderMetadata,
    row_group: usize,
    part: std::ops::Range<usize>,
    root: usize,
) -> Result<Option<(i64, i64)>> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{
        Int64Type, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
        TimestampSecondType,
    };
    fn span(v: &[i64]) -> (i64, i64) {
        v.iter()
            .fold((i64::MAX, i64::MIN), |(lo, hi), &t| (lo.min(t), hi.max(t)))
    }
    let t = meta.schema().field(root).data_type().clone();
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = part_reader(path, file, meta.clone(), row_group, &[root], &part, None)?;
    let decoded = arrow::array::RecordBatchReader::schema(&reader);
    let (mut lo, mut hi, mut cells) = (i64::MAX, i64::MIN, 0usize);
    for batch in reader {
        let batch = batch.map_err(|e| decode_error(path, row_group, &decoded, &[], e))?;
        let a = batch.column(0);
        if a.null_count() > 0 {
            return Ok(None);
        }
        let (l, h) = match a.data_type() {
            DataType::Int64 => span(a.as_primitive::<Int64Type>().values()),
            DataType::Timestamp(TimeUnit::Second, _) => {
                span(a.as_primitive::<TimestampSecondType>().values())
            }
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                span(a.as_primitive::<TimestampMillisecondType>().values())
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                span(a.as_primitive::<TimestampMicrosecondType>().values())
            }
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                span(a.as_primitive::<TimestampNanosecondType>().values())
            }
            _ => return Ok(None),
        };
        (lo, hi, cells) = (lo.min(l), hi.max(h), cells + a.len());
    }
    if cells != part.len() || cells == 0 {
        return Ok(None);
    }
    Ok(accepted_instants(&t, lo, hi))
}

/// A decoding error of the Arrow reader in row group `row_group` (whose batches have schema
/// `decoded`). The reader's own text for a string column holding bytes that are not UTF-8
/// (which the column's Parquet type promises) names no column and gives an offset in its
/// buffer, so the column is named with it: `at_fault` when [`not_utf8`] found it, else the
/// string columns the reader was decoding. No cell is quoted either way.
fn decode_error(
    path: &Path,
    row_group: usize,
    decoded: &Schema,
    at_fault: &[String],
    e: impl std::fmt::Display,
) -> Error {
    let e = reader_message(e);
    if !is_utf8_error(&e) {
        // The pages' own errors (`inflate`, `day_pages`, `OneRowGroup`) name the row group.
        return match e.starts_with("row group ") {
            true => Error::read(path, e),
            false => Error::read(path, format!("row group {row_group}: {e}")),
        };
    }
    let text: Vec<&str> = match at_fault {
        [] => (decoded.fields().iter())
            .filter(|f| is_text_field(f))
            .map(|f| f.name().as_str())
            .collect(),
        named => named.iter().map(String::as_str).collect(),
    };
    Error::read(
        path,
        format!(
            "row group {row_group}: a value of a string column ({}) is not UTF-8, which its \
             Parquet type promises (the reader said: {e})",
            text.join(", ")
        ),
    )
}

fn is_utf8_error(reader_said: &str) -> bool {
    reader_said.contains("UTF-8") || reader_said.contains("utf-8")
}

/// A column of text, or a dictionary of it.
fn is_text_field(f: &ArrowField) -> bool {
    match f.data_type() {
        DataType::Dictionary(_, v) => is_text_type(v),
        t => is_text_type(t),
    }
}

/// The string columns among `roots` whose values in rows `part` of row group `row_group` are
/// not all UTF-8, found by decoding each alone: the reader decoding them together says only
/// that one is not. Run once, on the way to that error; empty when none is found alone.
fn not_utf8(
    path: &Path,
    meta: &ArrowReaderMetadata,
    row_group: usize,
    roots: &[usize],
    part: &std::ops::Range<usize>,
) -> Vec<String> {
    let schema = meta.schema();
    (roots.iter().copied())
        .filter(|&root| is_text_field(schema.field(root)))
        .filter(|&root| {
            let alone = File::open(path).ok().and_then(|file| {
                part_reader(path, file, meta.clone(), row_group, &[root], part, None).ok()
            });
            // Its first error only: a reader may yield an error again at every call after
            // one (the fuzz target's file held a scan in this loop for good).
            alone.is_some_and(|mut reader| {
                (reader.find_map(Result::err)).is_some_and(|e| is_utf8_error(&reader_message(e)))
            })
        })
        .map(|root| schema.field(root).name().clone())
        .collect()
}

/// The message of an error of the Arrow reader, without the kinds Arrow and the `parquet`
/// crate put before it as they pass it on (`Parquet argument error: Parquet error: ...`).
fn reader_message(e: impl std::fmt::Display) -> String {
    let e = e.to_string();
    let mut rest = e.as_str();
    while let Some(r) = ["Parquet argument error: ", "Parquet error: "]
        .iter()
        .find_map(|p| rest.strip_prefix(p))
    {
        rest = r;
    }
    rest.to_string()
}

/// Arrow's string types.
fn is_text_type(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// The string columns read from their pages when plain-encoded ([`plain_pages`]).
const PLAIN_READ: [Field; 5] = [
    Field::Subscriber,
    Field::Counterparty,
    Field::Direction,
    Field::Kind,
    Field::CounterpartyRegion,
];

/// The instant every row of this row group can be given instead of its `event_time` (root
/// column `root`, Arrow type `t`): `Some` when the chunk's statistics (exact, and not the
/// deprecated ones) prove that no row's time is null or out of range (REFERENCE.md §2.4) and
/// that every instant lies where the sink treats it as the minimum ([`RowSink::one_day`]: for
/// a scan, one day of W, or all before or all after W). The row group of a time-ordered
/// export often lies within one day; its `event_time` is then neither decompressed nor
/// decoded, and every row's outcome is the same as with the decoded times.
fn one_day_time<R: RowSink + ?Sized>(
    rg: &RowGroupMetaData,
    schema: &parquet::schema::types::SchemaDescriptor,
    root: usize,
    t: &DataType,
    idx: &[Option<usize>],
    rows: &R,
) -> Option<i64> {
    let (first, last) = accepted_time_span(rg, schema, root, t, idx)?;
    rows.one_day(first, last).then_some(first)
}

/// The span (UTC epoch milliseconds, inclusive) of row group `rg`'s `event_time` cells
/// (column `root`, Arrow type `t`), when the chunk's statistics (exact, and not the deprecated
/// ones) prove that no cell is null or out of range (REFERENCE.md §2.4): every row's time is
/// then accepted and lies in the span. `None` otherwise, or when the column is also mapped
/// to another field.
fn accepted_time_span(
    rg: &RowGroupMetaData,
    schema: &parquet::schema::types::SchemaDescriptor,
    root: usize,
    t: &DataType,
    idx: &[Option<usize>],
) -> Option<(i64, i64)> {
    let stats = rg.column(time_leaf(schema, root, idx)?).statistics()?;
    let Statistics::Int64(s) = stats else {
        return None;
    };
    if stats.is_min_max_deprecated()
        || s.null_count_opt() != Some(0)
        || !(s.min_is_exact() && s.max_is_exact())
    {
        return None;
    }
    accepted_instants(t, *s.min_opt()?, *s.max_opt()?)
}

/// The one leaf of the `event_time` column `root`, where it has one and is mapped to no other
/// field: the column whose statistics may stand for its cells.
fn time_leaf(
    schema: &parquet::schema::types::SchemaDescriptor,
    root: usize,
    idx: &[Option<usize>],
) -> Option<usize> {
    let shared =
        (Field::ALL.iter().zip(idx)).any(|(f, r)| *r == Some(root) && *f != Field::EventTime);
    let leaves: Vec<usize> = leaves_of(schema, root).collect();
    match (&leaves[..], shared) {
        (&[leaf], false) => Some(leaf),
        _ => None,
    }
}

/// The instants (UTC epoch milliseconds) of the least and greatest ticks `lo` and `hi` of a
/// column of Arrow type `t`, where both are accepted times (REFERENCE.md §2.4): every tick
/// between them then is too, as `instant_of_ticks` keeps their order.
fn accepted_instants(t: &DataType, lo: i64, hi: i64) -> Option<(i64, i64)> {
    let (first, last) = (instant_of_ticks(t, lo)?, instant_of_ticks(t, hi)?);
    let accepted = EVENT_TIME_RANGE.contains(&first) && EVENT_TIME_RANGE.contains(&last);
    accepted.then_some((first, last))
}

/// The latest instant (UTC epoch milliseconds) an accepted row of row group `row_group` can
/// have, from its `event_time` statistics: every instant the column's cells hold is at most
/// this, and a row whose cell is null or out of range is rejected. The statistics' integers
/// are read in the unit of the column's Arrow type, as the reader reads the cells (the
/// parquet crate applies the unit of the Arrow schema a writer embeds to unannotated or
/// naive-nanosecond integers as they are). `None` when the statistics give no such bound:
/// none written, old writers' deprecated ones, a column of text, INT96 or anything but one
/// leaf of 64-bit integers read as ticks ([`instant_of_ticks`]); or columns that do not
/// resolve (reading the row group says why).
pub fn latest_bound(footer: &Footer, row_group: usize, columns: &ColumnMap) -> Option<i64> {
    let meta = ArrowReaderMetadata::try_new(Arc::clone(footer), ArrowReaderOptions::new()).ok()?;
    let schema = meta.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let root = columns.resolve(&names)[Field::EventTime as usize]?;
    let descr = footer.file_metadata().schema_descr();
    let leaves: Vec<usize> = leaves_of(descr, root).collect();
    let [leaf] = leaves[..] else {
        return None;
    };
    let stats = footer.row_group(row_group).column(leaf).statistics()?;
    let Statistics::Int64(s) = stats else {
        return None;
    };
    if stats.is_min_max_deprecated() || !s.max_is_exact() {
        return None;
    }
    instant_of_ticks(schema.field(root).data_type(), *s.max_opt()?)
}

/// The most rows any data page holds among the chunks of row group `row_group` that a read
/// with `columns` decodes (every leaf of every column the mapping resolves to), read from
/// the page headers (a seek and a few bytes a page; nothing is decompressed). `None` when it
/// cannot be told, or the headers cannot be trusted to pass over rows: columns that do not
/// resolve, a header that does not read, a page that does not say, a chunk whose pages do
/// not add up to the row group's rows (reading the row group whole says what is wrong). A
/// row group is worth reading in parts only where its pages are smaller than the parts: a
/// part starts by decompressing the page it starts in (one writer puts a 20-million-row
/// group in a single page per column).
pub fn largest_page_rows(
    path: &Path,
    footer: &Footer,
    row_group: usize,
    columns: &ColumnMap,
) -> Option<usize> {
    use parquet::column::page::PageReader;
    let meta = ArrowReaderMetadata::try_new(Arc::clone(footer), ArrowReaderOptions::new()).ok()?;
    let names: Vec<&str> = (meta.schema().fields().iter())
        .map(|f| f.name().as_str())
        .collect();
    let descr = footer.file_metadata().schema_descr();
    let rg = footer.row_group(row_group);
    let rows = usize::try_from(rg.num_rows()).ok()?;
    let file = Arc::new(super::bounded::Bounded(File::open(path).ok()?));
    let mut largest = 0;
    for root in columns.resolve(&names).into_iter().flatten() {
        for leaf in leaves_of(descr, root) {
            let mut pages = parquet::file::serialized_reader::SerializedPageReader::new(
                Arc::clone(&file),
                rg.column(leaf),
                rows,
                None,
            )
            .ok()?;
            let mut sum = 0usize;
            while let Some(page) = pages.peek_next_page().ok()? {
                if !page.is_dict {
                    let n = page.num_rows.or(page.num_levels)?;
                    (largest, sum) = (largest.max(n), sum.checked_add(n)?);
                }
                pages.skip_next_page().ok()?;
            }
            // Parts pass over pages by these counts: they must be the row group's rows.
            if sum != rows {
                return None;
            }
        }
    }
    Some(largest)
}

/// `batch` with one more column.
fn with_column(
    path: &Path,
    batch: &RecordBatch,
    field: &FieldRef,
    column: ArrayRef,
) -> Result<RecordBatch> {
    let fields: Vec<FieldRef> = (batch.schema().fields().iter().cloned())
        .chain([Arc::clone(field)])
        .collect();
    let columns: Vec<ArrayRef> = batch.columns().iter().cloned().chain([column]).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| Error::read(path, e))
}

/// True when no value of root column `root` in this row group can be rejected as a duration:
/// an unsigned integer type of up to 32 bits, or a signed one whose chunk statistics give a
/// minimum >= 0 (or say every value is null), or a `UINT_64` whose minimum and maximum both
/// read as non-negative `i64`s (so every value is at most `i64::MAX`, under the unsigned
/// order the format asks of writers and under the signed one a careless writer uses; a
/// larger value is `bad_duration`). Then `duration_s` need not be decoded there.
fn never_negative(
    rg: &RowGroupMetaData,
    schema: &parquet::schema::types::SchemaDescriptor,
    root: usize,
    arrow_type: &DataType,
) -> bool {
    let unsigned64 = *arrow_type == DataType::UInt64;
    if arrow_type.is_unsigned_integer() && !unsigned64 {
        return true;
    }
    if !matches!(
        arrow_type,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::UInt64
    ) {
        return false;
    }
    let leaves: Vec<usize> = leaves_of(schema, root).collect();
    let [leaf] = leaves[..] else {
        return false;
    };
    let chunk = rg.column(leaf);
    let all_null = |nulls: Option<u64>| {
        nulls.is_some_and(|n| u64::try_from(chunk.num_values()).is_ok_and(|v| v == n))
    };
    match chunk.statistics() {
        Some(Statistics::Int32(s)) => s
            .min_opt()
            .map_or(all_null(s.null_count_opt()), |m| *m >= 0),
        Some(Statistics::Int64(s)) => s.min_opt().map_or(all_null(s.null_count_opt()), |m| {
            *m >= 0 && (!unsigned64 || s.max_opt().is_some_and(|x| *x >= 0))
        }),
        _ => false,
    }
}

/// The leaf (Parquet) columns under root (Arrow) column `root`.
fn leaves_of(
    schema: &parquet::schema::types::SchemaDescriptor,
    root: usize,
) -> impl Iterator<Item = usize> + '_ {
    (0..schema.num_columns()).filter(move |&c| schema.get_column_root_idx(c) == root)
}

/// Root columns whose chunk in this row group is dictionary-encoded: a dictionary page, and
/// no data page in another encoding where the writer kept page encoding statistics. A writer
/// whose dictionary outgrows its limit (1 MiB in pyarrow, so `pandas.to_parquet`, and in
/// Spark) writes the chunk's later pages plain; read as an Arrow dictionary, every value of
/// those pages was hashed into a new dictionary (a fifth of a time-ordered scan's CPU) only
/// to be interpreted once per row anyway. Such a chunk is read from its pages
/// (`plain_pages`, its dictionary-encoded pages as spans into its dictionary page), or as
/// string views where a column is not read so. Without the statistics a dictionary page is
/// taken at its word.
fn dictionary_encoded(
    rg: &RowGroupMetaData,
    schema: &parquet::schema::types::SchemaDescriptor,
) -> Vec<usize> {
    use parquet::basic::Encoding;
    let only_dictionary_pages = |c: usize| {
        (rg.column(c).page_encoding_stats_mask()).is_none_or(|data| {
            data.encodings()
                .all(|e| matches!(e, Encoding::PLAIN_DICTIONARY | Encoding::RLE_DICTIONARY))
        })
    };
    (0..schema.num_columns())
        .filter(|&c| rg.column(c).dictionary_page_offset().is_some() && only_dictionary_pages(c))
        .map(|c| schema.get_column_root_idx(c))
        .collect()
}

/// String columns stored with a dictionary in this row group (`encoded`: root indices) among
/// subscriber, direction, kind and region are read as Arrow dictionaries, so each value is
/// interpreted once; every other string column we read is read as a string view (views into
/// the decoded pages, no copy). Reading a plain-encoded column as a dictionary would make the
/// decoder intern every value (a hash per row) only to interpret almost every row anyway: in
/// a time-ordered export most rows of a batch have a subscriber of their own. A legacy INT96
/// `event_time` (root `int96_time`; Spark's, Hive's and Impala's default) is read as
/// milliseconds: the reader's default, nanoseconds, wraps an instant outside 1677-2262 (a
/// year-2600 typo) around to an ordinary date, which would be counted instead of rejected as
/// `time_out_of_range`. Other columns keep their types.
fn with_type_hints(
    path: &Path,
    meta: ArrowReaderMetadata,
    idx: &[Option<usize>; 7],
    encoded: &[usize],
    int96_time: Option<usize>,
) -> Result<ArrowReaderMetadata> {
    let schema = meta.schema().clone();
    // Any Arrow string type the file's schema gives (Polars writes `large_string`).
    let utf8 = |i: &usize| is_text_type(schema.field(*i).data_type());
    let (dict_cols, mut view_cols): (Vec<usize>, Vec<usize>) = [
        Field::Subscriber,
        Field::Direction,
        Field::Kind,
        Field::CounterpartyRegion,
    ]
    .iter()
    .filter_map(|f| idx[*f as usize])
    .filter(utf8)
    .partition(|i| encoded.contains(i));
    view_cols.extend(idx[Field::Counterparty as usize].filter(utf8));
    let time_ms = int96_time.and_then(|i| match schema.field(i).data_type() {
        DataType::Timestamp(arrow::datatypes::TimeUnit::Nanosecond, tz) => Some((
            i,
            DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, tz.clone()),
        )),
        _ => None, // a unit the file's Arrow schema chose: no wrap below nanoseconds
    });
    if dict_cols.is_empty() && view_cols.is_empty() && time_ms.is_none() {
        return Ok(meta);
    }
    let fields: Vec<arrow::datatypes::FieldRef> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if dict_cols.contains(&i) {
                let t = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
                Arc::new(f.as_ref().clone().with_data_type(t))
            } else if view_cols.contains(&i) {
                Arc::new(f.as_ref().clone().with_data_type(DataType::Utf8View))
            } else if let Some((_, t)) = time_ms.as_ref().filter(|(t, _)| *t == i) {
                Arc::new(f.as_ref().clone().with_data_type(t.clone()))
            } else {
                Arc::clone(f)
            }
        })
        .collect();
    let hinted = Arc::new(arrow::datatypes::Schema::new_with_metadata(
        fields,
        schema.metadata().clone(),
    ));
    let options = ArrowReaderOptions::new().with_schema(hinted);
    ArrowReaderMetadata::try_new(Arc::clone(meta.metadata()), options)
        .map_err(|e| Error::read(path, e))
}

/// The record batches of an Arrow IPC file (its footer lists them; read at once, nothing
/// decoded); `None` for a stream, which can only be read from its start, or a file that does
/// not open as IPC (reading it says why).
pub fn ipc_batches(path: &Path) -> Option<usize> {
    if ipc_mixed_versions(path).is_some() {
        // Read as its stream, whole: a part would decode every batch before its own, and
        // the footer's count need not be the stream's.
        return None;
    }
    let file = File::open(path).ok()?;
    let reader =
        arrow::ipc::reader::FileReader::try_new(std::io::BufReader::new(file), None).ok()?;
    Some(reader.num_batches())
}

/// Reads an Arrow IPC file (or stream): record batches `batches` of a file (`None`: all of
/// them; a stream is always read whole), numbering rows from 0 (a part of a file is
/// renumbered by its caller).
pub fn read_ipc<R>(
    path: &Path,
    batches: Option<std::ops::Range<usize>>,
    columns: &ColumnMap,
    interp: &mut Interpreter,
    rows: &mut R,
) -> Result<()>
where
    R: RowSink + ?Sized,
{
    // A file whose footer and messages state two metadata versions is read as the stream it
    // holds (`ipc_mixed_versions`).
    let mixed = ipc_mixed_versions(path);
    ipc_lengths_checked(path, batches.clone(), mixed.clone())?;
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut row = 0u64;
    let mut cache = DictCache::default();
    // A batch the reader refuses (invalid UTF-8 in a string column) is named by its place.
    let batch_error = |k: usize, row: u64| {
        move |e| {
            Error::read(
                path,
                format!("record batch {k} (from row {}): {e}", row + 1),
            )
        }
    };
    // The columns are checked on an empty batch of the schema first, so that a file with no
    // batch is refused for a missing or unusable column as a CSV file with only a header is.
    // Columns of `key=value` directories the file lacks come after its own (`partitions`).
    let partitions = |schema: &Schema| {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        Partitions::of(path, &names, columns)
    };
    let schema_checked = |schema: arrow::datatypes::SchemaRef,
                          parts: &Partitions,
                          interp: &mut Interpreter,
                          rows: &mut R,
                          cache: &mut DictCache| {
        let empty = arrow::record_batch::RecordBatch::new_empty(parts.schema(&schema));
        visit_batch(path, &empty, columns, 0, cache, interp, rows)
    };
    let reopen = || File::open(path).map(std::io::BufReader::new);
    let as_file = match mixed {
        Some(_) => None,
        None => Some(arrow::ipc::reader::FileReader::try_new(
            std::io::BufReader::new(file),
            None,
        )),
    };
    match as_file {
        Some(Ok(reader)) => {
            let mut parts = partitions(&reader.schema());
            schema_checked(reader.schema(), &parts, interp, rows, &mut cache)?;
            let mut reader = match ipc_projection(&reader.schema(), columns) {
                None => reader,
                Some(projection) => reopen().map_err(|e| Error::io(path, e)).and_then(|file| {
                    arrow::ipc::reader::FileReader::try_new(file, Some(projection))
                        .map_err(|e| Error::read(path, e))
                })?,
            };
            let all = reader.num_batches();
            let range = batches.unwrap_or(0..all);
            if range.end > all {
                return Err(Error::read(path, "the file changed while it was read"));
            }
            if range.start > 0 {
                reader
                    .set_index(range.start)
                    .map_err(|e| Error::read(path, e))?;
            }
            for (k, batch) in reader.take(range.len()).enumerate() {
                let batch = batch.map_err(batch_error(range.start + k, row))?;
                let at = (&mut row, &mut cache, &mut parts);
                visit_sliced(path, &batch, columns, at, interp, rows)?;
            }
        }
        // A stream is read whole (`ipc_batches` cuts only files the file reader opens): a
        // part that comes here is of a file that changed since it was cut.
        _ if batches.is_some() => {
            return Err(Error::read(path, "the file changed while it was read"));
        }
        file_read => {
            let open_stream = || -> std::io::Result<std::io::BufReader<File>> {
                use std::io::Seek;
                let mut file = reopen()?;
                if let Some(stream) = &mixed {
                    file.seek(std::io::SeekFrom::Start(stream.start))?;
                }
                Ok(file)
            };
            let file = open_stream().map_err(|e| Error::io(path, e))?;
            let reader = arrow::ipc::reader::StreamReader::try_new(file, None).map_err(|e| {
                let said = match &file_read {
                    Some(Err(file_err)) => format!(
                        "not an Arrow IPC file ({file_err}) nor stream ({e}){}",
                        other_format(path)
                    ),
                    _ => format!(
                        "the stream of an IPC file whose footer states another metadata \
                         version than its messages: {e}"
                    ),
                };
                Error::read(path, said)
            })?;
            let mut parts = partitions(&reader.schema());
            schema_checked(reader.schema(), &parts, interp, rows, &mut cache)?;
            let mut reader = match ipc_projection(&reader.schema(), columns) {
                None => reader,
                Some(projection) => {
                    open_stream()
                        .map_err(|e| Error::io(path, e))
                        .and_then(|file| {
                            arrow::ipc::reader::StreamReader::try_new(file, Some(projection))
                                .map_err(|e| Error::read(path, e))
                        })?
                }
            };
            for (k, batch) in reader.by_ref().enumerate() {
                let batch = batch.map_err(batch_error(k, row))?;
                let at = (&mut row, &mut cache, &mut parts);
                visit_sliced(path, &batch, columns, at, interp, rows)?;
            }
            stream_ended(path, reader.get_mut(), mixed.map(|m| m.end))?;
        }
    }
    Ok(())
}

/// The footer of an Arrow IPC file of `size` bytes, with the byte it starts at (the stream's
/// end), or `None` where the file's tail states none that fits.
fn ipc_footer(file: &mut File, size: u64) -> Option<(u64, Vec<u8>)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut at = |offset: u64, len: usize| -> Option<Vec<u8>> {
        file.seek(SeekFrom::Start(offset)).ok()?;
        let mut buf = vec![0u8; len];
        file.read_exact(&mut buf).ok()?;
        Some(buf)
    };
    let tail = at(size.checked_sub(10)?, 10)?;
    let n = arrow::ipc::reader::read_footer_length(tail.try_into().ok()?).ok()?;
    let start = (size - 10).checked_sub(n as u64)?;
    Some((start, at(start, n)?))
}

/// Where an Arrow IPC file whose footer states another metadata version than its messages
/// do (pyarrow's `IpcWriteOptions(metadata_version=V4)` writes V4 messages under a V5
/// footer) holds its stream: from byte 8 to the footer. Arrow's file reader refuses every
/// message of such a file; the stream the file format holds is read instead. `None` for
/// any other input.
fn ipc_mixed_versions(path: &Path) -> Option<std::ops::Range<u64>> {
    use arrow::ipc::{root_as_footer, root_as_message};
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(path).ok()?;
    let size = file.metadata().ok()?.len();
    let (end, footer) = ipc_footer(&mut file, size)?;
    let footer = root_as_footer(&footer).ok()?;
    let first = (footer.dictionaries().into_iter().flatten())
        .chain(footer.recordBatches().into_iter().flatten())
        .min_by_key(|b| b.offset())?;
    let (offset, len) = (
        u64::try_from(first.offset()).ok()?,
        usize::try_from(first.metaDataLength()).ok()?,
    );
    // A message's metadata is a few kilobytes: a block stating more (a damaged or hostile
    // footer) is left to the reader, which refuses it, rather than read here.
    (len <= 1 << 20 && offset.checked_add(len as u64)? <= end).then_some(())?;
    file.seek(SeekFrom::Start(offset)).ok()?;
    let mut meta = vec![0u8; len];
    file.read_exact(&mut meta).ok()?;
    let skip = if meta.get(..4)? == [0xff; 4] { 8 } else { 4 };
    let message = root_as_message(meta.get(skip..)?).ok()?;
    (message.version() != footer.version() && end >= 8).then_some(8..end)
}

/// What a file named as Arrow IPC but read as neither IPC form is, when its leading bytes say
/// (`sources::magic_of`: Feather's first version, which Arrow's readers no longer read,
/// Parquet, compressed data), or that it is too short to be one (`ARROW1` alone).
fn other_format(path: &Path) -> String {
    let size = std::fs::metadata(path).map_or(0, |m| m.len());
    match super::sources::magic_of(path) {
        Some(m) if m.format != Some(super::Format::Ipc) => format!("; it is {}", m.what),
        // The smallest IPC file (magic, schema, footer, magic) takes over a hundred bytes.
        _ if size < 64 => {
            format!("; it is {size} bytes, too short to be one: was it cut short?")
        }
        _ => String::new(),
    }
}

/// Checks that an IPC stream's end-of-stream marker (or the end of its last message) is the
/// end of the file: Arrow's reader stops there, so a second stream after it (two stream files
/// joined with `cat`, as Arrow's readers all read only the first) or any other bytes would be
/// rows never read, with nothing said. An error naming the file and the byte instead.
fn stream_ended(path: &Path, file: &mut std::io::BufReader<File>, end: Option<u64>) -> Result<()> {
    use std::io::Seek;
    let at = file.stream_position().map_err(|e| Error::io(path, e))?;
    let size = match end {
        Some(end) => end,
        None => (file.get_ref().metadata())
            .map_err(|e| Error::io(path, e))?
            .len(),
    };
    if at < size {
        return Err(Error::read(
            path,
            format!(
                "{} more bytes follow the Arrow stream's end (byte {at}), which Arrow's readers \
                 do not read: streams joined into one file? Give each stream its own file",
                size - at
            ),
        ));
    }
    Ok(())
}

/// The columns of an IPC file's `schema` that a read with `columns` takes (those the mapping
/// resolves to, in file order), or `None` when that is every column. A column the scan does
/// not read is then neither decompressed nor validated, as in a Parquet file: its bytes
/// cannot make the file unreadable, nor its size slow the read (views all pointing at one
/// large value cost Arrow's validation their every byte).
fn ipc_projection(schema: &Schema, columns: &ColumnMap) -> Option<Vec<usize>> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let mut taken: Vec<usize> = columns.resolve(&names).into_iter().flatten().collect();
    taken.sort_unstable();
    taken.dedup();
    (taken.len() < names.len()).then_some(taken)
}

/// [`visit_batch`] of an IPC batch in slices of [`BATCH_ROWS`] rows (`row`: the file row
/// before it, moved past it). A batch is read as its writer cut it, and the columns the row
/// loop casts (run-end encoded, other dictionaries) are cast a slice at a time: a 2.6 KB file
/// of one run of 2^31 rows took 24 GB when its columns were cast whole.
fn visit_sliced<R: RowSink + ?Sized>(
    path: &Path,
    batch: &RecordBatch,
    columns: &ColumnMap,
    (row, cache, parts): (&mut u64, &mut DictCache, &mut Partitions),
    interp: &mut Interpreter,
    rows: &mut R,
) -> Result<()> {
    let n = batch.num_rows();
    let mut at = 0;
    while at < n || n == 0 {
        let len = (n - at).min(BATCH_ROWS);
        let slice = parts.extend(path, batch.slice(at, len))?;
        visit_batch(path, &slice, columns, *row, cache, interp, rows)?;
        *row += len as u64;
        at += len;
        if n == 0 {
            break;
        }
    }
    Ok(())
}

/// Checks, before the Arrow reader decodes them, that the compressed buffers of an IPC file
/// or stream (every message of a stream; of a file, the record batches `batches` and every
/// dictionary batch) state lengths their compressed bytes can hold. The reader sets aside
/// each buffer's stated length before decompressing it: a few bytes stating a terabyte made
/// the allocation fail, which aborts the process (no panic to catch), the CLI and the server
/// alike. Stated lengths are bounded by each codec's largest ratio (lz4: 255 to 1; zstd: a
/// 128 KiB block from 4 bytes). Messages are found as the reader finds them: a file's by its
/// footer's blocks (whatever its leading bytes; the reader checks only the trailing magic),
/// each block's metadata and body where the block says; a stream's by each message's length
/// prefix; an input that reads as both is checked both ways. A file the walk cannot follow is
/// left to the reader, whose errors name it (the `data_file` fuzz target found a file with a
/// damaged leading magic, walked as a stream, whose footer the reader read, and aborted).
fn ipc_lengths_checked(
    path: &Path,
    batches: Option<std::ops::Range<usize>>,
    mixed: Option<std::ops::Range<u64>>,
) -> Result<()> {
    // A file whose footer and messages state two versions (`mixed`: its stream's bytes) is
    // read as the stream it holds: every message of that stream is checked, listed or not.
    // A block whose message does not parse from its metadata is read whole to find it, up
    // to this size (only damaged files get there).
    const WHOLE_BLOCK_BYTES: u64 = 64 << 20;
    use arrow::ipc::{CompressionType, root_as_footer, root_as_message};
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let at = |file: &mut File, offset: u64, len: usize| -> Option<Vec<u8>> {
        (offset.checked_add(len as u64)? <= size).then_some(())?;
        file.seek(SeekFrom::Start(offset)).ok()?;
        let mut buf = vec![0u8; len];
        file.read_exact(&mut buf).ok()?;
        Some(buf)
    };
    // The message at `offset` (continuation marker or not): its body's start and length, or
    // `None` where the walk cannot follow. `block`: a file's block (metadata length with
    // its prefix, body length), which the file reader goes by instead of the prefix.
    let check_message = |file: &mut File,
                         offset: u64,
                         block: Option<(u64, u64)>|
     -> Option<Result<(u64, u64)>> {
        let head = at(file, offset, 8)?;
        let marker = head[..4] == [0xff; 4];
        let skip: u64 = if marker { 8 } else { 4 };
        let (meta, body, block_body) = match block {
            // The file reader parses the message from the whole block after the prefix (so
            // a message may reach past the block's metadata length into its body), and takes
            // the body from the metadata length on.
            Some((meta_len, body_len)) => {
                let whole = meta_len.checked_add(body_len)?.checked_sub(skip)?;
                let first = meta_len.saturating_sub(skip).min(whole);
                let meta = match at(file, offset + skip, usize::try_from(first).ok()?) {
                    Some(m) if root_as_message(&m).is_ok() => m,
                    _ if whole <= WHOLE_BLOCK_BYTES => {
                        at(file, offset + skip, usize::try_from(whole).ok()?)?
                    }
                    _ => return None,
                };
                (meta, offset + meta_len, Some(body_len))
            }
            None => {
                let len =
                    i32::from_le_bytes(head[skip as usize - 4..skip as usize].try_into().ok()?);
                let len = u64::try_from(len).ok().filter(|n| *n > 0)?;
                let meta = at(file, offset + skip, usize::try_from(len).ok()?)?;
                (meta, offset + skip + len, None)
            }
        };
        let message = root_as_message(&meta).ok()?;
        let body_len = match block_body {
            Some(n) => n,
            None => u64::try_from(message.bodyLength()).ok()?,
        };
        // The reader sets a body's whole length aside (zeroed) before reading it: a few
        // bytes stating 16 GB took 16 GB, then failed to read them.
        if body.checked_add(body_len).is_none_or(|end| end > size) {
            let e = format!(
                "an IPC message states a body of {body_len} bytes from byte {body}, past the end of the file ({size} bytes)"
            );
            return Some(Err(Error::read(path, e)));
        }
        let batch = (message.header_as_record_batch())
            .or_else(|| message.header_as_dictionary_batch().and_then(|d| d.data()));
        let Some(batch) = batch else {
            return Some(Ok((body, body_len)));
        };
        let Some(ratio) = batch.compression().map(|c| match c.codec() {
            CompressionType::LZ4_FRAME => 255u64,
            _ => 32_768,
        }) else {
            return Some(Ok((body, body_len)));
        };
        for b in batch.buffers().into_iter().flatten() {
            let (start, len) = (
                u64::try_from(b.offset()).ok()?,
                u64::try_from(b.length()).ok()?,
            );
            if len < 8 {
                continue;
            }
            let stated = i64::from_le_bytes(at(file, body + start, 8)?.try_into().ok()?);
            let most = (len - 8).saturating_mul(ratio).saturating_add(64 * 1024);
            if u64::try_from(stated).is_ok_and(|n| n > most) {
                let e = format!(
                    "a compressed buffer states {stated} bytes, more than its {} bytes can hold",
                    len - 8
                );
                return Some(Err(Error::read(path, e)));
            }
        }
        Some(Ok((body, body_len)))
    };
    // A file: the blocks its footer lists, as the file reader takes them.
    let footer = ipc_footer(&mut file, size).map(|(_, footer)| footer);
    if let Some(footer) = footer.as_deref()
        && let Ok(footer) = root_as_footer(footer)
    {
        let all: Vec<_> = footer.recordBatches().into_iter().flatten().collect();
        let range = batches.clone().unwrap_or(0..all.len());
        let blocks = (footer.dictionaries().into_iter().flatten())
            .chain(all.get(range).unwrap_or_default().iter().copied());
        for block in blocks {
            let (offset, meta, body) = (block.offset(), block.metaDataLength(), block.bodyLength());
            // The file reader sets a block's whole length aside (zeroed) and reads it before
            // it looks at the message: a footer stating 16 GB took 16 GB, then failed.
            let frame = (u64::try_from(meta).ok()).zip(u64::try_from(body).ok());
            let start = u64::try_from(offset).ok();
            let end = start
                .zip(frame)
                .and_then(|(o, (m, b))| o.checked_add(m)?.checked_add(b));
            if end.is_none_or(|end| end > size) {
                let e = format!(
                    "the IPC footer states a block of {meta} + {body} bytes from byte {offset}, \
                     past the end of the file ({size} bytes)"
                );
                return Err(Error::read(path, e));
            }
            if let Some(Err(e)) = start
                .zip(frame)
                .and_then(|(o, frame)| check_message(&mut file, o, Some(frame)))
            {
                return Err(e);
            }
        }
        if batches.is_some() && mixed.is_none() {
            // A part of a file: the file reader read it (the stream reader reads whole inputs).
            return Ok(());
        }
    }
    // A stream (or an input the file reader may refuse, which is then read as one).
    let (mut offset, end) = mixed.map_or((0, size), |stream| (stream.start, stream.end));
    while offset < end {
        match check_message(&mut file, offset, None) {
            Some(Ok((body, body_len))) => offset = body.saturating_add(body_len),
            Some(Err(e)) => return Err(e),
            None => break,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{Event, rejects::RejectReason};
    use hotzone_kernel::detect::Window;
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::{EnabledStatistics, WriterProperties};

    /// A sink that counts by the days of `W` and reads nothing.
    struct Days(Window);

    impl RowSink for Days {
        fn row(&mut self, _: u64, _: std::result::Result<Event, RejectReason>) -> Result<()> {
            Ok(())
        }

        fn one_day(&self, first: i64, last: i64) -> bool {
            self.0.one_day(first, last)
        }
    }

    fn ms(t: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(t)
            .unwrap()
            .timestamp_millis()
    }

    /// Writes `batch` to `path` in row groups of `rows` rows, with or without statistics.
    fn write_groups(path: &Path, batch: &RecordBatch, rows: usize, stats: EnabledStatistics) {
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(rows))
            .set_statistics_enabled(stats)
            .build();
        let mut writer =
            ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), Some(props)).unwrap();
        writer.write(batch).unwrap();
        writer.close().unwrap();
    }

    /// The reader's metadata of the file at `path` with the hints a read gives it, the
    /// columns mapped by their canonical names and `encoded` the dictionary-encoded ones.
    fn hinted(path: &Path, meta: ArrowReaderMetadata, encoded: &[usize]) -> ArrowReaderMetadata {
        let names: Vec<String> = (meta.schema().fields().iter())
            .map(|f| f.name().clone())
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let idx = resolve_required(&ColumnMap::default(), &names, path).unwrap();
        with_type_hints(path, meta, &idx, encoded, None).unwrap()
    }

    /// The readers' type hints apply whatever Arrow string type the file's schema names:
    /// Polars writes `large_string`, and its dictionary-encoded columns were read value by
    /// value (and cast) instead of as dictionaries.
    #[test]
    fn string_columns_of_every_arrow_string_type_get_the_hints() {
        use arrow::array::{ArrayRef, LargeStringArray, StringArray, StringViewArray};
        let dir = tempfile::tempdir().unwrap();
        let text = |t: &DataType, v: Vec<&str>| -> ArrayRef {
            match t {
                DataType::Utf8 => Arc::new(StringArray::from(v)),
                DataType::LargeUtf8 => Arc::new(LargeStringArray::from(v)),
                _ => Arc::new(StringViewArray::from(v)),
            }
        };
        for t in [DataType::Utf8, DataType::LargeUtf8, DataType::Utf8View] {
            let rows = 64;
            let batch = RecordBatch::try_from_iter([
                (
                    "event_time",
                    Arc::new(TimestampMillisecondArray::from_value(0, rows)) as ArrayRef,
                ),
                ("subscriber", text(&t, vec!["+886912345678"; rows])),
                ("counterparty", text(&t, vec!["+2348012345678"; rows])),
                ("direction", text(&t, vec!["out"; rows])),
                ("kind", text(&t, vec!["call"; rows])),
            ])
            .unwrap();
            let path = dir.path().join(format!("{t}.parquet"));
            write_groups(&path, &batch, rows, EnabledStatistics::Chunk);
            let meta =
                ArrowReaderMetadata::load(&File::open(&path).unwrap(), Default::default()).unwrap();
            assert_eq!(
                meta.schema().field(1).data_type(),
                &t,
                "the file keeps its type"
            );
            let encoded = dictionary_encoded(meta.metadata().row_group(0), meta.parquet_schema());
            assert!(
                (1..=4).all(|c| encoded.contains(&c)),
                "{t}: the writer's dictionaries"
            );
            let hinted = hinted(&path, meta, &encoded);
            let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
            let types: Vec<&DataType> = (hinted.schema().fields().iter())
                .map(|f| f.data_type())
                .collect();
            assert_eq!(
                types[1..],
                [&dict, &DataType::Utf8View, &dict, &dict],
                "{t}: subscriber, direction, kind as dictionaries, counterparty as views"
            );
        }
    }

    /// A chunk whose dictionary outgrew the writer's limit (its later pages plain, as
    /// pyarrow and Spark write a column of a million numbers) is not read as a dictionary;
    /// a chunk all of whose pages use the dictionary is.
    #[test]
    fn a_chunk_whose_dictionary_fell_back_to_plain_pages_is_read_as_views() {
        use arrow::array::{ArrayRef, StringArray};
        let dir = tempfile::tempdir().unwrap();
        let rows = 20_000;
        let subscribers: Vec<String> = (0..rows).map(|i| format!("+8869{i:08}")).collect();
        let batch = RecordBatch::try_from_iter([
            (
                "event_time",
                Arc::new(TimestampMillisecondArray::from_value(0, rows)) as ArrayRef,
            ),
            (
                "subscriber",
                Arc::new(StringArray::from(subscribers)) as ArrayRef,
            ),
            (
                "counterparty",
                Arc::new(StringArray::from(vec!["+2348012345678"; rows])),
            ),
            ("direction", Arc::new(StringArray::from(vec!["out"; rows]))),
            ("kind", Arc::new(StringArray::from(vec!["call"; rows]))),
        ])
        .unwrap();
        let path = dir.path().join("fallback.parquet");
        let props = WriterProperties::builder()
            .set_dictionary_page_size_limit(4096)
            .set_data_page_row_count_limit(1024)
            .set_write_batch_size(1024)
            .build();
        let mut writer =
            ArrowWriter::try_new(File::create(&path).unwrap(), batch.schema(), Some(props))
                .unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let meta =
            ArrowReaderMetadata::load(&File::open(&path).unwrap(), Default::default()).unwrap();
        let rg = meta.metadata().row_group(0);
        let data = |c: usize| rg.column(c).page_encoding_stats_mask().unwrap();
        assert!(rg.column(1).dictionary_page_offset().is_some());
        assert!(
            data(1).is_set(parquet::basic::Encoding::PLAIN),
            "the subscriber fell back"
        );
        assert!(
            !data(3).is_set(parquet::basic::Encoding::PLAIN),
            "direction did not"
        );
        let encoded = dictionary_encoded(rg, meta.parquet_schema());
        assert!(!encoded.contains(&1) && encoded.contains(&3) && encoded.contains(&4));
        let hinted = hinted(&path, meta, &encoded);
        assert_eq!(hinted.schema().field(1).data_type(), &DataType::Utf8View);
    }

    /// `event_time` is left undecoded exactly for the row groups whose statistics prove one
    /// day of W (in the engine's zone), or all before or all after W, with no null and no
    /// instant out of range; never when the file has no statistics.
    #[test]
    fn event_time_is_skipped_only_where_statistics_prove_one_day() {
        // W = 2026-03-09..=2026-03-10 in Asia/Taipei (UTC+8): its days start at 16:00Z.
        let tz: chrono_tz::Tz = "Asia/Taipei".parse().unwrap();
        let w = Window::new(tz, chrono::NaiveDate::from_ymd_opt(2026, 3, 10).unwrap(), 2);
        let groups: [([Option<&str>; 2], Option<&str>); 8] = [
            // Local 09 09:00 and 09 23:59: one day of W.
            (
                [Some("2026-03-09T01:00:00Z"), Some("2026-03-09T15:59:59Z")],
                Some("2026-03-09T01:00:00Z"),
            ),
            // Local 09 23:00 and 10 01:00: two days.
            (
                [Some("2026-03-09T15:00:00Z"), Some("2026-03-09T17:00:00Z")],
                None,
            ),
            // Both before W, both after it.
            (
                [Some("2026-03-01T00:00:00Z"), Some("2026-03-05T00:00:00Z")],
                Some("2026-03-01T00:00:00Z"),
            ),
            (
                [Some("2026-04-01T00:00:00Z"), Some("2026-05-01T00:00:00Z")],
                Some("2026-04-01T00:00:00Z"),
            ),
            // Before W and inside it; before and after it.
            (
                [Some("2026-03-01T00:00:00Z"), Some("2026-03-09T01:00:00Z")],
                None,
            ),
            (
                [Some("2026-03-01T00:00:00Z"), Some("2026-04-01T00:00:00Z")],
                None,
            ),
            // A null time (a reject), and an instant out of range (a reject).
            ([Some("2026-03-09T01:00:00Z"), None], None),
            (
                [Some("1969-12-31T23:00:00Z"), Some("1969-12-31T23:30:00Z")],
                None,
            ),
        ];
        let times: Vec<Option<i64>> = groups
            .iter()
            .flat_map(|(t, _)| t.map(|t| t.map(ms)))
            .collect();
        let n = times.len();
        let schema = Arc::new(Schema::new(vec![
            ArrowField::new(
                "event_time",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                true,
            ),
            ArrowField::new("subscriber", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(TimestampMillisecondArray::from(times).with_timezone("UTC")),
                Arc::new(arrow::array::StringArray::from(vec!["+886912345001"; n])),
            ],
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        for stats in [EnabledStatistics::Chunk, EnabledStatistics::None] {
            let path = dir.path().join(format!("{stats:?}.parquet"));
            write_groups(&path, &batch, 2, stats);
            let footer = parquet_row_groups(&path).unwrap().0;
            let meta = ArrowReaderMetadata::try_new(Arc::clone(&footer), ArrowReaderOptions::new())
                .unwrap();
            let t = meta.schema().field(0).data_type().clone();
            // Only `event_time` and `subscriber` are mapped.
            let mut idx = [None; Field::ALL.len()];
            idx[Field::EventTime as usize] = Some(0);
            idx[Field::Subscriber as usize] = Some(1);
            let sink = Days(w.clone());
            for (g, (_, want)) in groups.iter().enumerate() {
                let got = one_day_time(
                    footer.row_group(g),
                    footer.file_metadata().schema_descr(),
                    0,
                    &t,
                    &idx,
                    &sink,
                );
                let want = want.map(ms).filter(|_| stats == EnabledStatistics::Chunk);
                assert_eq!(got, want, "row group {g}, statistics {stats:?}");
            }
        }
    }

    /// The bound a row group's statistics give is the latest instant its `event_time` cells
    /// hold, for a timestamp of any unit (seconds, which arrow-rs stores unannotated and names
    /// in its embedded schema, included) and for epoch milliseconds; none for text, nor
    /// without statistics.
    #[test]
    fn latest_bound_is_the_latest_instant_of_a_row_group() {
        use arrow::array::{
            Int64Array, StringArray, TimestampMicrosecondArray, TimestampNanosecondArray,
            TimestampSecondArray,
        };
        // Two row groups of three rows: the second holds the latest instant and a null.
        let secs = [
            1_773_100_800i64,
            1_773_187_199,
            1_773_000_000,
            1_773_200_000,
            1_773_190_000,
        ];
        let cells: Vec<Option<i64>> = secs.iter().map(|s| Some(*s)).chain([None]).collect();
        let latest = [1_773_187_199_000i64, 1_773_200_000_000];
        let scaled = |k: i64| cells.iter().map(|c| c.map(|s| s * k)).collect::<Vec<_>>();
        let columns: Vec<(ArrayRef, Option<[i64; 2]>)> = vec![
            (
                Arc::new(TimestampSecondArray::from(scaled(1))),
                Some(latest),
            ),
            (
                Arc::new(TimestampMillisecondArray::from(scaled(1_000)).with_timezone("UTC")),
                Some(latest),
            ),
            (
                Arc::new(TimestampMicrosecondArray::from(scaled(1_000_000))),
                Some(latest),
            ),
            (
                Arc::new(
                    TimestampNanosecondArray::from(scaled(1_000_000_000)).with_timezone("+08:00"),
                ),
                Some(latest),
            ),
            (Arc::new(Int64Array::from(scaled(1_000))), Some(latest)),
            (
                Arc::new(StringArray::from(
                    cells
                        .iter()
                        .map(|c| c.map(|s| format!("{s}")))
                        .collect::<Vec<_>>(),
                )),
                None,
            ),
        ];
        let dir = tempfile::tempdir().unwrap();
        for (k, (column, want)) in columns.into_iter().enumerate() {
            let schema = Arc::new(Schema::new(vec![
                ArrowField::new("event_time", column.data_type().clone(), true),
                ArrowField::new("subscriber", DataType::Utf8, false),
            ]));
            let batch = RecordBatch::try_new(
                schema,
                vec![
                    column,
                    Arc::new(StringArray::from(vec!["+886912345001"; 6])),
                ],
            )
            .unwrap();
            for stats in [EnabledStatistics::Chunk, EnabledStatistics::None] {
                let path = dir.path().join(format!("{k}-{stats:?}.parquet"));
                write_groups(&path, &batch, 3, stats);
                let footer = parquet_row_groups(&path).unwrap().0;
                let columns = ColumnMap::default();
                let got = [0, 1].map(|g| latest_bound(&footer, g, &columns));
                let want = want
                    .filter(|_| stats == EnabledStatistics::Chunk)
                    .map_or([None, None], |w| w.map(Some));
                assert_eq!(got, want, "column {k}, statistics {stats:?}");
            }
        }
    }

    /// A sink that keeps each row's instant (or its reject), and whose days are W's.
    struct Seen(Window, Vec<(u64, Option<i64>)>);

    impl RowSink for Seen {
        fn row(&mut self, at: u64, row: std::result::Result<Event, RejectReason>) -> Result<()> {
            self.1.push((at, row.ok().map(|e| e.time_ms)));
            Ok(())
        }

        fn one_day(&self, first: i64, last: i64) -> bool {
            self.0.one_day(first, last)
        }
    }

    /// An `event_time` page whose statistics (the column index, or the page's header) prove
    /// one day of W, or all before or all after it, is not decoded: its rows are given its
    /// least instant, on the same day as each row's own. Every row's day (or reject) is the
    /// one its own instant gives, with the column optional or required, compressed or not,
    /// the row groups read whole or in parts; without page statistics every page is decoded.
    #[test]
    fn event_time_pages_are_replaced_only_where_statistics_prove_one_day() {
        use arrow::array::{Array, StringArray};
        use parquet::basic::Compression;
        use parquet::file::properties::WriterVersion;
        // W = 2026-03-09..=2026-03-10 in Asia/Taipei: days start at 16:00Z.
        let tz: chrono_tz::Tz = "Asia/Taipei".parse().unwrap();
        let w = Window::new(tz, chrono::NaiveDate::from_ymd_opt(2026, 3, 10).unwrap(), 2);
        // Every 7 minutes from three days before W to a day after it; a null and an instant
        // out of range (both rejects) in two pages of the optional column.
        let start = ms("2026-03-06T12:00:00Z");
        let truth: Vec<Option<i64>> = (0..1400i64)
            .map(|i| match i {
                100 => None,
                700 => Some(ms("1969-12-31T23:00:00Z")),
                i => Some(start + i * 7 * 60_000),
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        use Compression::{SNAPPY, UNCOMPRESSED};
        use EnabledStatistics::{Chunk, None as NoStats, Page};
        let (v1, v2) = (WriterVersion::PARQUET_1_0, WriterVersion::PARQUET_2_0);
        // Optional or not, statistics, of pages in their headers too, codec, page version.
        let cases = [
            (true, Page, false, SNAPPY, v1),
            (true, Page, true, UNCOMPRESSED, v1),
            (true, Page, true, SNAPPY, v2),
            (false, Page, false, UNCOMPRESSED, v1),
            (false, Page, true, SNAPPY, v2),
            (true, Chunk, false, SNAPPY, v1),
            (true, NoStats, false, SNAPPY, v2),
        ];
        for (k, (optional, stats, headers, codec, version)) in cases.into_iter().enumerate() {
            let times: Vec<Option<i64>> = match optional {
                true => truth.clone(),
                false => truth.iter().map(|t| t.or(Some(start))).collect(),
            };
            let n = times.len();
            let schema = Arc::new(Schema::new(vec![
                ArrowField::new(
                    "event_time",
                    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                    optional,
                ),
                ArrowField::new("subscriber", DataType::Utf8, false),
                ArrowField::new("direction", DataType::Utf8, false),
                ArrowField::new("kind", DataType::Utf8, false),
            ]));
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(TimestampMillisecondArray::from(times.clone()).with_timezone("UTC")),
                    Arc::new(StringArray::from(vec!["+886912345001"; n])),
                    Arc::new(StringArray::from(vec!["out"; n])),
                    Arc::new(StringArray::from(vec!["call"; n])),
                ],
            )
            .unwrap();
            assert_eq!(batch.column(0).null_count(), usize::from(optional));
            // Row groups of 500 rows (each spans a midnight), pages of 40 rows.
            let props = WriterProperties::builder()
                .set_max_row_group_row_count(Some(500))
                .set_data_page_row_count_limit(40)
                .set_write_batch_size(40)
                .set_statistics_enabled(stats)
                .set_write_page_header_statistics(headers)
                .set_compression(codec)
                .set_writer_version(version)
                .build();
            let path = dir.path().join(format!("{k}.parquet"));
            let mut writer =
                ArrowWriter::try_new(File::create(&path).unwrap(), schema, Some(props)).unwrap();
            writer.write(&batch).unwrap();
            writer.close().unwrap();
            let (footer, groups) = parquet_row_groups(&path).unwrap();
            for parts in [false, true] {
                let mut sink = Seen(w.clone(), Vec::new());
                for &(g, first) in &groups {
                    let rows = footer.row_group(g).num_rows() as usize;
                    let cuts = match parts {
                        false => [0..rows, rows..rows, rows..rows],
                        true => [0..3, 3..rows / 2, rows / 2..rows],
                    };
                    for part in cuts.into_iter().filter(|p| !p.is_empty()) {
                        read_parquet_row_group(
                            &path,
                            &footer,
                            g,
                            part,
                            first,
                            (&ColumnMap::default(), false),
                            (&mut Interpreter::new(None), &mut PagePool::default()),
                            &mut sink,
                        )
                        .unwrap();
                    }
                }
                assert_eq!(sink.1.len(), n, "case {k}");
                let mut replaced = 0;
                for (at, got) in &sink.1 {
                    // Rows are numbered from 1.
                    let want = times[*at as usize - 1].filter(|t| EVENT_TIME_RANGE.contains(t));
                    let day = |t: Option<i64>| t.map(|t| w.day_of(t));
                    assert_eq!(day(*got), day(want), "case {k}, parts {parts}, row {at}");
                    replaced += usize::from(*got != want);
                }
                // Pages of one day are most of the file where pages have statistics (those
                // holding a reject or a midnight are read); the chunk's statistics prove it
                // of the last row group only (all after W).
                match stats {
                    EnabledStatistics::Page => assert!(replaced > 1000, "case {k}: {replaced}"),
                    EnabledStatistics::Chunk => assert!(replaced < 400, "case {k}: {replaced}"),
                    _ => assert_eq!(replaced, 0, "case {k}"),
                }
            }
        }
    }

    /// An Arrow reader's error reads as its message after the file and row group, without
    /// the kinds Arrow and the crate put before it; the pages' own errors, which name their
    /// row group and column, are not named twice.
    #[test]
    fn reader_errors_read_without_the_crates_prefixes() {
        let schema = Schema::empty();
        let shown = |e: &str| decode_error(Path::new("f.parquet"), 3, &schema, &[], e).to_string();
        assert_eq!(
            shown("Parquet argument error: Parquet error: insufficient definition levels"),
            "f.parquet: row group 3: insufficient definition levels"
        );
        assert_eq!(
            shown("Parquet error: row group 3: column t: a page of 9 bytes"),
            "f.parquet: row group 3: column t: a page of 9 bytes"
        );
        assert_eq!(shown("EOF: eof"), "f.parquet: row group 3: EOF: eof");
    }
}
