//! `event_time` pages whose statistics prove one day are not decompressed.
//!
//! A row group of a time-ordered export holds a day or less of events, so most of its
//! `event_time` pages hold instants of a single day; a scan needs only the day of each row
//! (`RowSink::one_day`). `columnar` already leaves a whole chunk undecoded where the row
//! group's statistics prove one day; a row group that spans midnight had every page of it
//! decompressed (a fifth of the bytes a scan of such a file decompresses). Here the same
//! proof is made page by page.
//!
//! - [`plan`] reads what each page's header states ([`claims::page_facts`]) and, where the
//!   chunk has one, its column index (the page index's per-page minimum, maximum and nulls),
//!   and decides for each data page whether every row of it can be given one instant instead
//!   of its own: its statistics state a least and a greatest value (exact), no null, and the
//!   caller's test says that every instant between them has the outcome of the least.
//! - [`OneDayPages`] is the chunk's page reader for the Arrow reader: such a page is passed
//!   over (its bytes are neither decompressed nor decoded) and replaced by an uncompressed
//!   `PLAIN` page of as many copies of that instant's ticks; every other page is the crate's,
//!   as stored in the file.
//!
//! What is trusted: the statistics, as the row-group path trusts them (a file whose
//! statistics lie about its values gives the days they state). What is not: the pairing of
//! the walked headers with the crate's pages is checked at each replaced page (not a
//! dictionary page, and as many values as walked); where it does not hold, the rest of the
//! chunk is read as stored. A replacement page is built only up to [`MOST_VALUES`] values
//! (a header may claim two billion values of a few bytes); larger pages are decoded.
//!
//! [`claims::page_facts`]: super::claims::page_facts

use std::collections::VecDeque;
use std::fs::File;

use bytes::Bytes;
use parquet::basic::{Encoding, Type as PhysicalType};
use parquet::column::page::{Page, PageMetadata, PageReader};
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::page_index::column_index::ColumnIndexMetaData;

use super::claims::PageFacts;

/// The most values of a page given as a replacement (8 bytes each: 64 MiB).
pub(crate) const MOST_VALUES: usize = 8 << 20;

/// The most bytes of a column index read (a few dozen bytes a page).
const MOST_INDEX_BYTES: usize = 4 << 20;

/// What becomes of one page of a chunk, in the order the crate gives the pages: `Some((ticks,
/// values))` for a page replaced by `values` copies of `ticks`, `None` for a page read as
/// stored.
pub(crate) type Plan = Vec<Option<(i64, usize)>>;

/// The plan of the pages of `chunk` (a flat `INT64` column of a row group of `rows` rows;
/// `optional`: it may hold nulls) in `file`: `one_day(least, greatest)` says whether every
/// row of a page whose values lie between the two (ticks, inclusive) can be given the least. `None` when no page can be
/// replaced, or the headers cannot be followed (the chunk is then read as stored, whose
/// reading says what is wrong).
pub(crate) fn plan(
    file: &File,
    (chunk, rows): (&ColumnChunkMetaData, i64),
    optional: bool,
    mut one_day: impl FnMut(i64, i64) -> bool,
) -> Option<Plan> {
    if chunk.column_type() != PhysicalType::INT64 {
        return None;
    }
    let facts = super::claims::page_facts(file, chunk)?;
    // Pages of kinds no writer makes, or without a count, are left to the crate.
    if !(facts.iter()).all(|f| (f.dictionary || f.data) && f.values.is_some_and(|n| n >= 0)) {
        return None;
    }
    // The data pages of a flat column hold a value (or null) a row: headers that count
    // otherwise are read as stored, which says what is wrong with them.
    let data = facts.iter().filter(|f| !f.dictionary);
    if data
        .clone()
        .try_fold(0i64, |sum, f| sum.checked_add(f.values?))
        != Some(rows)
    {
        return None;
    }
    let data_pages = data.count();
    let index = column_index(file, chunk).filter(|i| i.num_pages() == data_pages as u64);
    let mut data_page = 0usize;
    // The value the last replacement was made of: a page of the same day is given it too,
    // so that its copies are the last page's (built once, not once a page).
    let mut last: Option<i64> = None;
    let plan: Plan = (facts.iter())
        .map(|f| {
            if f.dictionary {
                return None;
            }
            let at = data_page;
            data_page += 1;
            let from_index = index.as_ref().and_then(|i| index_facts(i, at));
            let mut with_last = |lo: i64, hi: i64| match last {
                Some(v) if one_day(lo.min(v), hi.max(v)) => (v, true),
                _ => (lo, one_day(lo, hi)),
            };
            let (value, values) = replacement(f, from_index, optional, &mut with_last)?;
            last = Some(value);
            Some((value, values))
        })
        .collect();
    let replaced = plan.iter().flatten().count();
    (replaced > 0).then_some(plan)
}

/// What replaces data page `f` (of an optional column where `optional`): as many copies as
/// its values of the value `one_day` gives for its bounds (its least, or one it says has the
/// same outcome), where every source that states its bounds (its header, its column-index
/// entry `from_index`) puts them between two values that `one_day` accepts, every source that
/// states its nulls says none (at least one must, for an optional column), and it holds no
/// more than [`MOST_VALUES`] values. Sources that disagree are read together: their widest
/// bounds, and any null stated.
fn replacement(
    f: &PageFacts,
    from_index: Option<IndexFacts>,
    optional: bool,
    one_day: &mut impl FnMut(i64, i64) -> (i64, bool),
) -> Option<(i64, usize)> {
    let (index_span, index_nulls) = from_index.unzip();
    let spans = [f.span, index_span].into_iter().flatten();
    let (lo, hi) = spans.reduce(|(a, b), (c, d)| (a.min(c), b.max(d)))?;
    let nulls = [f.nulls[0], f.nulls[1], index_nulls.flatten()];
    let none_null = match optional {
        false => true,
        true => nulls.iter().flatten().next().is_some() && nulls.iter().flatten().all(|n| *n == 0),
    };
    let values = usize::try_from(f.values?).ok()?;
    let fits = (1..=MOST_VALUES).contains(&values);
    if !(none_null && fits && lo <= hi) {
        return None;
    }
    let (value, day) = one_day(lo, hi);
    day.then_some((value, values))
}

/// A data page's least and greatest values in a column index, and its nulls where stated.
type IndexFacts = ((i64, i64), Option<i64>);

/// The column index of `chunk`, where it has one of `INT64` values that reads.
fn column_index(file: &File, chunk: &ColumnChunkMetaData) -> Option<ColumnIndexMetaData> {
    use std::os::unix::fs::FileExt;
    let at = u64::try_from(chunk.column_index_offset()?).ok()?;
    let len = usize::try_from(chunk.column_index_length()?).ok()?;
    if len > MOST_INDEX_BYTES {
        return None;
    }
    let mut buf = vec![0; len];
    file.read_exact_at(&mut buf, at).ok()?;
    parquet::file::page_index::index_reader::decode_column_index(&buf, PhysicalType::INT64).ok()
}

/// Data page `at`'s least and greatest values in column index `index`, and its nulls where
/// the index states them; `None` for a page of nulls only or one the index gives no bounds.
fn index_facts(index: &ColumnIndexMetaData, at: usize) -> Option<IndexFacts> {
    let ColumnIndexMetaData::INT64(values) = index else {
        return None;
    };
    if index.is_null_page(at) {
        return None;
    }
    let span = (*values.min_value(at)?, *values.max_value(at)?);
    Some((span, index.null_count(at)))
}

/// The pages of a chunk (`inner`, as the crate or `inflate` gives them) with those of its
/// [`plan`] replaced.
pub(crate) struct OneDayPages {
    inner: Box<dyn PageReader>,
    plan: VecDeque<Option<(i64, usize)>>,
    optional: bool,
    /// The last replacement built, for the next page of the same ticks and values.
    last: Option<(i64, usize, Bytes)>,
}

impl OneDayPages {
    pub(crate) fn new(inner: Box<dyn PageReader>, plan: Plan, optional: bool) -> Self {
        OneDayPages {
            inner,
            plan: plan.into(),
            optional,
            last: None,
        }
    }

    /// The body of a `PLAIN` data page (v1) of `values` copies of `ticks`, after its
    /// definition levels (all present, one run) where the column is optional.
    fn body(&mut self, ticks: i64, values: usize) -> Bytes {
        if let Some((t, n, body)) = &self.last
            && (*t, *n) == (ticks, values)
        {
            return body.clone();
        }
        let mut body = Vec::with_capacity(values * 8 + 16);
        if self.optional {
            // An RLE run of `values` ones, bit width 1: its header, then the value's byte.
            let mut run = Vec::with_capacity(11);
            let mut header = (values as u64) << 1;
            while header >= 0x80 {
                run.push((header as u8) | 0x80);
                header >>= 7;
            }
            run.extend([header as u8, 1]);
            body.extend_from_slice(&(run.len() as u32).to_le_bytes());
            body.extend_from_slice(&run);
        }
        let word = ticks.to_le_bytes();
        body.extend((0..values).flat_map(|_| word));
        let body = Bytes::from(body);
        self.last = Some((ticks, values, body.clone()));
        body
    }
}

impl Iterator for OneDayPages {
    type Item = parquet::errors::Result<Page>;

    fn next(&mut self) -> Option<Self::Item> {
        self.get_next_page().transpose()
    }
}

impl PageReader for OneDayPages {
    fn get_next_page(&mut self) -> parquet::errors::Result<Option<Page>> {
        let Some(Some((ticks, values))) = self.plan.pop_front() else {
            return self.inner.get_next_page();
        };
        // The page the crate is at must be the one the plan was made of; where it is not,
        // the rest of the chunk is read as stored.
        let in_step = matches!(
            self.inner.peek_next_page()?,
            Some(PageMetadata { is_dict: false, num_levels: Some(n), .. }) if n == values
        );
        if !in_step {
            self.plan.clear();
            return self.inner.get_next_page();
        }
        self.inner.skip_next_page()?;
        Ok(Some(Page::DataPage {
            buf: self.body(ticks, values),
            num_values: values as u32,
            encoding: Encoding::PLAIN,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        }))
    }

    fn peek_next_page(&mut self) -> parquet::errors::Result<Option<PageMetadata>> {
        self.inner.peek_next_page()
    }

    fn skip_next_page(&mut self) -> parquet::errors::Result<()> {
        self.plan.pop_front();
        self.inner.skip_next_page()
    }

    fn at_record_boundary(&mut self) -> parquet::errors::Result<bool> {
        self.inner.at_record_boundary()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::{EnabledStatistics, WriterProperties};
    use parquet::file::reader::{FileReader, SerializedFileReader};

    /// `values` (a required `INT64` column `t`) written in pages of 10 rows, one row group.
    fn written(
        dir: &std::path::Path,
        values: &[i64],
        stats: EnabledStatistics,
        headers: bool,
    ) -> std::path::PathBuf {
        let path = dir.join(format!("{stats:?}-{headers}.parquet"));
        let schema = Arc::new(Schema::new(vec![Field::new("t", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(values.to_vec()))],
        )
        .unwrap();
        let props = WriterProperties::builder()
            .set_data_page_row_count_limit(10)
            .set_write_batch_size(10)
            .set_dictionary_enabled(false)
            .set_statistics_enabled(stats)
            .set_write_page_header_statistics(headers)
            .build();
        let mut writer =
            ArrowWriter::try_new(File::create(&path).unwrap(), schema, Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        path
    }

    fn chunk_of(path: &std::path::Path) -> ColumnChunkMetaData {
        let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
        reader.metadata().row_group(0).column(0).clone()
    }

    /// A page's bounds come from its header's statistics or from the column index, and both
    /// give the same plan; with neither (statistics of the chunk only) nothing is replaced.
    /// "One day" here: both bounds in the same hundred.
    #[test]
    fn header_statistics_and_the_column_index_give_the_same_plan() {
        let values: Vec<i64> = (0..60).map(|i| i * 7).collect();
        let hundred = |lo: i64, hi: i64| lo / 100 == hi / 100;
        // Pages 0..=5 hold 0..=63, 70..=133, 140..=203, 210..=273, 280..=343, 350..=413.
        let want: Plan = vec![Some((0, 10)), None, None, Some((210, 10)), None, None];
        let dir = tempfile::tempdir().unwrap();
        let both = written(dir.path(), &values, EnabledStatistics::Page, true);
        let index_only = written(dir.path(), &values, EnabledStatistics::Page, false);
        let neither = written(dir.path(), &values, EnabledStatistics::Chunk, false);
        let file = |p: &std::path::Path| File::open(p).unwrap();
        assert_eq!(
            plan(&file(&both), (&chunk_of(&both), 60), false, hundred),
            Some(want.clone())
        );
        assert_eq!(
            plan(
                &file(&index_only),
                (&chunk_of(&index_only), 60),
                false,
                hundred
            ),
            Some(want.clone())
        );
        // The same chunk without its column index: the headers alone.
        let headers_only = (chunk_of(&both).into_builder())
            .set_column_index_offset(None)
            .set_column_index_length(None)
            .build()
            .unwrap();
        assert_eq!(
            plan(&file(&both), (&headers_only, 60), false, hundred),
            Some(want)
        );
        assert_eq!(
            plan(&file(&neither), (&chunk_of(&neither), 60), false, hundred),
            None
        );
        // Headers that count another number of rows than the row group's: read as stored.
        assert_eq!(
            plan(&file(&both), (&chunk_of(&both), 61), false, hundred),
            None
        );
        // An optional column whose nulls no source states is never replaced.
        let no_nulls_stated = (chunk_of(&index_only).into_builder())
            .set_column_index_offset(None)
            .set_column_index_length(None)
            .build()
            .unwrap();
        assert_eq!(
            plan(&file(&index_only), (&no_nulls_stated, 60), true, hundred),
            None
        );
    }

    /// Pages of one day after a replaced page of that day are given the same value, so that
    /// the copies built for the first serve them all.
    #[test]
    fn pages_of_the_same_day_share_the_first_ones_value() {
        let values: Vec<i64> = (0..60).map(|i| i * 2).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path(), &values, EnabledStatistics::Page, false);
        let hundred = |lo: i64, hi: i64| lo / 100 == hi / 100;
        let plan = plan(
            &File::open(&path).unwrap(),
            (&chunk_of(&path), 60),
            false,
            hundred,
        );
        // Pages of 0..=18, 20..=38, ..., 80..=98 in the first hundred, 100..=118 in the next.
        let mut want = vec![Some((0, 10)); 5];
        want.push(Some((100, 10)));
        assert_eq!(plan, Some(want));
    }

    /// Every source of a page's facts must agree: nulls stated by any (the v2 header's count,
    /// the statistics', the column index's) keep the page, whatever another says, and an
    /// optional column's page whose nulls none states is kept; bounds are the widest stated.
    #[test]
    fn a_page_is_replaced_only_where_every_source_allows_it() {
        let page = |span, nulls| PageFacts {
            dictionary: false,
            data: true,
            values: Some(10),
            sizes: (80, 80),
            span,
            nulls,
        };
        let mut hundred = |lo: i64, hi: i64| (lo, lo / 100 == hi / 100);
        let mut decide =
            |f: &PageFacts, index, optional| replacement(f, index, optional, &mut hundred);
        let day = Some((110, 150));
        assert_eq!(
            decide(&page(day, [Some(0), Some(0)]), None, true),
            Some((110, 10))
        );
        assert_eq!(
            decide(&page(day, [None, None]), None, false),
            Some((110, 10))
        );
        // A v2 header's count of none beside statistics counting 60 (a forged header).
        assert_eq!(decide(&page(day, [Some(0), Some(60)]), None, true), None);
        assert_eq!(decide(&page(day, [Some(60), Some(0)]), None, true), None);
        // The header says none, the column index three; or only the index says, and none.
        assert_eq!(
            decide(
                &page(day, [None, Some(0)]),
                Some(((110, 150), Some(3))),
                true
            ),
            None
        );
        assert_eq!(
            decide(&page(None, [None, None]), Some(((110, 150), Some(0))), true),
            Some((110, 10))
        );
        // Nulls stated nowhere: kept (optional), replaced (required).
        assert_eq!(decide(&page(day, [None, None]), None, true), None);
        // Bounds from both sources, one of them past the hundred: kept.
        assert_eq!(
            decide(
                &page(day, [Some(0), None]),
                Some(((105, 230), Some(0))),
                true
            ),
            None
        );
        // No bounds, bounds the wrong way round, more values than a replacement takes.
        assert_eq!(decide(&page(None, [Some(0), None]), None, true), None);
        assert_eq!(
            decide(&page(Some((150, 110)), [Some(0), None]), None, true),
            None
        );
        let huge = PageFacts {
            values: Some(MOST_VALUES as i64 + 1),
            ..page(day, [Some(0), None])
        };
        assert_eq!(decide(&huge, None, true), None);
    }

    /// Pages as a chunk's page reader gives them.
    struct Given(VecDeque<Page>);

    impl Iterator for Given {
        type Item = parquet::errors::Result<Page>;

        fn next(&mut self) -> Option<Self::Item> {
            self.0.pop_front().map(Ok)
        }
    }

    impl PageReader for Given {
        fn get_next_page(&mut self) -> parquet::errors::Result<Option<Page>> {
            Ok(self.0.pop_front())
        }

        fn peek_next_page(&mut self) -> parquet::errors::Result<Option<PageMetadata>> {
            Ok(self.0.front().map(|p| PageMetadata {
                num_rows: None,
                num_levels: Some(p.num_values() as usize),
                is_dict: matches!(p, Page::DictionaryPage { .. }),
            }))
        }

        fn skip_next_page(&mut self) -> parquet::errors::Result<()> {
            self.0.pop_front();
            Ok(())
        }
    }

    fn stored(values: u32, byte: u8) -> Page {
        Page::DataPage {
            buf: Bytes::from(vec![byte; values as usize * 8]),
            num_values: values,
            encoding: Encoding::PLAIN,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        }
    }

    /// A planned page is replaced by its copies (its definition levels first where the
    /// column is optional); where the page the reader is at is not the one planned (another
    /// count of values), it and every later page are given as stored.
    #[test]
    fn a_plan_out_of_step_with_the_pages_is_dropped() {
        let pages = [stored(4, 1), stored(3, 2), stored(4, 3), stored(4, 4)];
        let plan: Plan = vec![Some((7, 4)), Some((8, 4)), None, Some((9, 4))];
        let mut read = OneDayPages::new(Box::new(Given(pages.into())), plan, true);
        let bodies: Vec<Vec<u8>> = std::iter::from_fn(|| read.get_next_page().unwrap())
            .map(|p| p.buffer().to_vec())
            .collect();
        // Levels: a 2-byte run (4 << 1, then the value 1) after its length.
        let mut first = vec![2, 0, 0, 0, 8, 1];
        first.extend((0..4).flat_map(|_| 7i64.to_le_bytes()));
        assert_eq!(bodies, vec![first, vec![2; 24], vec![3; 32], vec![4; 32]]);
    }
}
