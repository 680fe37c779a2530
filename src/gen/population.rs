//! The normal, legitimate population: phone-number formats, subscriber profiles (volume tier,
//! silent days, withheld callers, alphanumeric SMS senders, international habits) and their
//! day-to-day call/SMS traffic.
//!
//! Numbers are never held as `String`s while generating: a [`Num`] is a template index plus the
//! random trailing digits, and is formatted straight into the output column's buffer.
//!
//! Every foreign format below is a real, *valid* range for its region in libphonenumber's
//! metadata (a unit test checks it with the `phonenumber` crate), so the engine classifies the
//! generated counterparties as the intended region (`+1 876 …` is `JM`, `+7 701 …` is `KZ`).

use rand::Rng;

use super::GenError;

/// Uniform draws built on the raw 64-bit output of the generator.
///
/// The generator's output (xoshiro256++) is fixed by its algorithm; these helpers are fixed by
/// this file. So a seed gives the same data whatever `rand`'s own sampling algorithms become.
pub(crate) trait Draw {
    /// A uniform `f64` in `[0, 1)`.
    fn unit(&mut self) -> f64;
    /// A uniform integer in `0..n` (`n > 0`; the bias is below 2^-40 for the sizes used here).
    fn below(&mut self, n: u64) -> u64;
    /// `true` with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    /// A uniform `f64` in `[lo, hi)`.
    fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    /// A uniform integer in `lo..=hi`.
    fn int_in(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.below(u64::from(hi - lo) + 1) as u32
    }
    /// A standard normal deviate (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit(); // (0, 1]
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
    /// A Poisson deviate with mean `lambda` (Knuth below 30, rounded normal above).
    fn poisson(&mut self, lambda: f64) -> u32 {
        if lambda <= 0.0 {
            return 0;
        }
        if lambda < 30.0 {
            let limit = (-lambda).exp();
            let mut k = 0u32;
            let mut p = self.unit();
            while p > limit {
                k += 1;
                p *= self.unit();
            }
            k
        } else {
            (lambda + lambda.sqrt() * self.normal()).round().max(0.0) as u32
        }
    }
}

impl<R: Rng> Draw for R {
    #[inline]
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    #[inline]
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// A number format: a fixed prefix (with `+`) followed by `digits` random digits whose value is
/// below `max`.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    /// The fixed start, e.g. `+234803`.
    pub(crate) prefix: String,
    /// How many digits follow the prefix (zero-padded).
    pub(crate) digits: u8,
    /// Exclusive upper bound of the random part (at most `10^digits`).
    pub(crate) max: u64,
}

/// A phone number: a [`Template`] index and its random trailing digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Num {
    /// Index into [`Catalog::templates`].
    pub(crate) tpl: u32,
    /// The random part, below the template's `max`.
    pub(crate) rest: u64,
}

/// A counterparty as generated.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Party {
    /// Withheld / unknown: written as null (Parquet) or empty (CSV).
    Withheld,
    /// An alphanumeric SMS sender such as `BANK`.
    Alpha(&'static str),
    /// A phone number.
    Number(Num),
}

/// Formats, per region, that are valid in libphonenumber: (prefix, random digit count).
struct CountrySpec {
    code: &'static str,
    /// Relative weight when an international subscriber's foreign countries are drawn.
    intl_weight: u32,
    formats: &'static [(&'static str, u8)],
}

/// Foreign regions the generator can produce numbers for (international habits and, by region
/// code, hotzone campaigns). NG, JM and KH are there too: some legitimate expats call home.
const COUNTRIES: &[CountrySpec] = &[
    CountrySpec {
        code: "NG",
        intl_weight: 3,
        formats: &[
            ("+234803", 7),
            ("+234806", 7),
            ("+234802", 7),
            ("+234813", 7),
            ("+234703", 7),
            ("+234706", 7),
            ("+234903", 7),
        ],
    },
    CountrySpec {
        code: "JM",
        intl_weight: 2,
        formats: &[
            ("+187621", 5),
            ("+187635", 5),
            ("+187684", 5),
            ("+187645", 5),
        ],
    },
    CountrySpec {
        code: "KH",
        intl_weight: 4,
        formats: &[("+85512", 6), ("+85517", 6), ("+85592", 6), ("+85577", 6)],
    },
    CountrySpec {
        code: "PH",
        intl_weight: 10,
        formats: &[("+63917", 7), ("+63918", 7), ("+63927", 7), ("+63998", 7)],
    },
    CountrySpec {
        code: "KZ",
        intl_weight: 1,
        formats: &[("+7701", 7), ("+7702", 7), ("+7705", 7), ("+7747", 7)],
    },
    CountrySpec {
        code: "US",
        intl_weight: 12,
        formats: &[
            ("+12124", 6),
            ("+12127", 6),
            ("+16465", 6),
            ("+14158", 6),
            ("+13106", 6),
        ],
    },
    CountrySpec {
        code: "CA",
        intl_weight: 3,
        formats: &[("+14164", 6), ("+16042", 6)],
    },
    CountrySpec {
        code: "CN",
        intl_weight: 14,
        formats: &[("+86138", 8), ("+86139", 8), ("+86186", 8), ("+86150", 8)],
    },
    CountrySpec {
        code: "HK",
        intl_weight: 6,
        formats: &[("+85294", 6), ("+85296", 6), ("+85263", 6)],
    },
    CountrySpec {
        code: "JP",
        intl_weight: 10,
        formats: &[("+81901", 7), ("+81803", 7), ("+81705", 7)],
    },
    CountrySpec {
        code: "KR",
        intl_weight: 5,
        formats: &[("+82102", 7), ("+82103", 7), ("+82109", 7)],
    },
    CountrySpec {
        code: "VN",
        intl_weight: 10,
        formats: &[("+8491", 7), ("+8490", 7), ("+8498", 7)],
    },
    CountrySpec {
        code: "ID",
        intl_weight: 8,
        formats: &[("+62812", 8), ("+62813", 8), ("+62821", 8)],
    },
    CountrySpec {
        code: "TH",
        intl_weight: 6,
        formats: &[("+6681", 7), ("+6689", 7), ("+6661", 7)],
    },
    CountrySpec {
        code: "MY",
        intl_weight: 5,
        formats: &[("+6012", 7), ("+6019", 7)],
    },
    CountrySpec {
        code: "SG",
        intl_weight: 5,
        formats: &[("+6591", 6), ("+6598", 6), ("+6581", 6)],
    },
    CountrySpec {
        code: "GB",
        intl_weight: 4,
        formats: &[("+447400", 6), ("+447500", 6), ("+447800", 6)],
    },
    CountrySpec {
        code: "DE",
        intl_weight: 3,
        formats: &[("+49151", 8), ("+49176", 8)],
    },
    CountrySpec {
        code: "FR",
        intl_weight: 2,
        formats: &[("+3361", 7), ("+3367", 7)],
    },
    CountrySpec {
        code: "AU",
        intl_weight: 3,
        formats: &[("+6141", 7), ("+6140", 7)],
    },
    CountrySpec {
        code: "IN",
        intl_weight: 3,
        formats: &[("+9198", 8), ("+9199", 8)],
    },
];

/// Taiwan mobiles: `+886 9` then 8 digits whose first is 0-8 (`+886 99…` is not a valid range).
const TW_MOBILE_PREFIX: &str = "+8869";
/// How many Taiwan mobile numbers there are in [`TW_MOBILE_PREFIX`]'s valid range.
pub(crate) const TW_MOBILE_SPACE: u64 = 90_000_000;
/// Taiwan landlines (Taipei `+886 2 [2-8]…`, Kaohsiung `+886 7 2…`): (prefix, digits).
const TW_LANDLINES: &[(&str, u8)] = &[("+88622", 7), ("+88627", 7), ("+88628", 7), ("+88672", 6)];

/// Alphanumeric SMS senders (incoming SMS only).
const ALPHA_SENDERS: &[&str] = &[
    "BANK",
    "NETFLIX",
    "SHOPEE",
    "LINE",
    "GOOGLE",
    "UBER",
    "FOODPANDA",
    "CHT",
    "ESUNBANK",
    "MOMO",
];

/// A source of hotzone numbers: one `--hotzone-countries` entry.
#[derive(Debug, Clone)]
pub(crate) struct HotSource {
    /// The entry as given (`NG`, `+88216`).
    pub(crate) label: String,
    /// Templates that produce numbers in it.
    pub(crate) templates: Vec<u32>,
}

/// A foreign region: its code and templates.
#[derive(Debug, Clone)]
pub(crate) struct Country {
    /// ISO 3166-1 alpha-2 code.
    pub(crate) code: &'static str,
    /// Templates producing valid numbers of the region.
    pub(crate) templates: Vec<u32>,
}

/// All number formats of one run, plus the hotzone sources parsed from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct Catalog {
    /// Every template; [`Num::tpl`] indexes this.
    pub(crate) templates: Vec<Template>,
    /// Foreign regions, in [`COUNTRIES`] order.
    pub(crate) countries: Vec<Country>,
    /// Cumulative `intl_weight` of `countries`.
    intl_cumulative: Vec<u32>,
    /// Template of Taiwan mobiles.
    pub(crate) tw_mobile: u32,
    /// Templates of Taiwan landlines.
    tw_landlines: Vec<u32>,
    /// Hotzone sources (at least one).
    pub(crate) hot: Vec<HotSource>,
}

impl Catalog {
    /// Builds the catalog; `hotzone` entries are region codes of [`COUNTRIES`] or `+digits`.
    pub(crate) fn new(hotzone: &[String]) -> Result<Self, GenError> {
        let mut templates = Vec::new();
        let mut push = |prefix: &str, digits: u8, max: u64| {
            templates.push(Template {
                prefix: prefix.to_owned(),
                digits,
                max,
            });
            (templates.len() - 1) as u32
        };
        let tw_mobile = push(TW_MOBILE_PREFIX, 8, TW_MOBILE_SPACE);
        let tw_landlines = TW_LANDLINES
            .iter()
            .map(|&(p, d)| push(p, d, 10u64.pow(d.into())))
            .collect();
        let countries: Vec<Country> = COUNTRIES
            .iter()
            .map(|c| Country {
                code: c.code,
                templates: c
                    .formats
                    .iter()
                    .map(|&(p, d)| push(p, d, 10u64.pow(d.into())))
                    .collect(),
            })
            .collect();
        let mut hot = Vec::new();
        for entry in hotzone {
            let entry = entry.trim();
            let source = if let Some(digits) = entry.strip_prefix('+') {
                if digits.is_empty()
                    || digits.len() > 14
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                    || digits.starts_with('0')
                {
                    return Err(GenError::Config(format!(
                        "hotzone entry {entry:?}: a prefix is + then 1 to 14 digits, not starting with 0"
                    )));
                }
                // Numbers of 12 digits (at least 1 random digit, at most 15 in all).
                let rest = (12usize.saturating_sub(digits.len())).max(1) as u8;
                HotSource {
                    label: entry.to_owned(),
                    templates: vec![push(entry, rest, 10u64.pow(rest.into()))],
                }
            } else {
                let code = entry.to_ascii_uppercase();
                let Some(country) = countries.iter().find(|c| c.code == code) else {
                    let known: Vec<&str> = COUNTRIES.iter().map(|c| c.code).collect();
                    return Err(GenError::Config(format!(
                        "hotzone entry {entry:?}: no number format for this region (known: {}; or give a +prefix)",
                        known.join(",")
                    )));
                };
                HotSource {
                    label: code,
                    templates: country.templates.clone(),
                }
            };
            if !hot.iter().any(|h: &HotSource| h.label == source.label) {
                hot.push(source);
            }
        }
        if hot.is_empty() {
            return Err(GenError::Config(
                "hotzone countries: at least one entry is needed".into(),
            ));
        }
        let mut acc = 0;
        let intl_cumulative = COUNTRIES
            .iter()
            .map(|c| {
                acc += c.intl_weight;
                acc
            })
            .collect();
        Ok(Self {
            templates,
            countries,
            intl_cumulative,
            tw_mobile,
            tw_landlines,
            hot,
        })
    }

    /// Appends `num` formatted as E.164 to `out`.
    #[inline]
    pub(crate) fn format_into(&self, num: Num, out: &mut String) {
        let t = &self.templates[num.tpl as usize];
        out.push_str(&t.prefix);
        push_digits(num.rest, t.digits, out);
    }

    /// The number `num` as an E.164 string.
    #[cfg(test)]
    pub(crate) fn format(&self, num: Num) -> String {
        let mut s = String::with_capacity(16);
        self.format_into(num, &mut s);
        s
    }

    /// A random number of template `tpl`.
    #[inline]
    pub(crate) fn random_of(&self, tpl: u32, rng: &mut impl Draw) -> Num {
        Num {
            tpl,
            rest: rng.below(self.templates[tpl as usize].max),
        }
    }

    /// A random number from one of `templates`.
    pub(crate) fn random_among(&self, templates: &[u32], rng: &mut impl Draw) -> Num {
        let tpl = templates[rng.below(templates.len() as u64) as usize];
        self.random_of(tpl, rng)
    }

    /// A random domestic number: 80% mobiles, 20% landlines.
    pub(crate) fn random_domestic(&self, rng: &mut impl Draw) -> Num {
        if rng.chance(0.8) {
            self.random_of(self.tw_mobile, rng)
        } else {
            self.random_among(&self.tw_landlines, rng)
        }
    }

    /// A foreign country drawn by habit weight, different from those in `not`.
    fn random_country(&self, not: &[u16], rng: &mut impl Draw) -> u16 {
        let total = *self.intl_cumulative.last().unwrap_or(&1);
        loop {
            let x = rng.below(u64::from(total)) as u32;
            let idx = self.intl_cumulative.partition_point(|&c| c <= x) as u16;
            if !not.contains(&idx) {
                return idx;
            }
        }
    }
}

/// Appends `value` as exactly `width` zero-padded decimal digits.
#[inline]
pub(crate) fn push_digits(mut value: u64, width: u8, out: &mut String) {
    let mut buf = [b'0'; 20];
    let width = usize::from(width).min(20);
    for slot in buf[..width].iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
    for &b in &buf[..width] {
        out.push(char::from(b));
    }
}

/// The subscriber number of subscriber `index` (a fixed permutation of the valid Taiwan mobile
/// range, so numbers look random but are unique): the random part of a [`Catalog::tw_mobile`].
pub(crate) fn subscriber_rest(index: u32) -> u64 {
    // 7_777_777 is coprime with 90_000_000 = 2^7 * 3^2 * 5^7, so this is a bijection.
    (u64::from(index) * 7_777_777 + 12_345_679) % TW_MOBILE_SPACE
}

/// Hourly weights of ordinary traffic over a local day (00:00 .. 23:00).
pub(crate) const NORMAL_HOURS: [u32; 24] = [
    3, 2, 1, 1, 1, 2, 4, 8, 12, 14, 15, 15, 13, 14, 14, 14, 14, 15, 16, 17, 17, 15, 10, 6,
];

/// Volume tier of a subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tier {
    /// About 0.3 events per active day.
    Light,
    /// About 2 events per active day.
    Medium,
    /// About 10 events per active day.
    Heavy,
}

impl Tier {
    /// Mean events per active day before the subscriber's own multiplier.
    pub(crate) fn base_rate(self) -> f64 {
        match self {
            Tier::Light => 0.3,
            Tier::Medium => 2.0,
            Tier::Heavy => 10.0,
        }
    }

    /// Draws a tier: (light, medium) shares, the rest heavy.
    fn draw(rng: &mut impl Draw, international: bool) -> Tier {
        let (light, medium) = if international {
            (0.25, 0.50)
        } else {
            (0.57, 0.35)
        };
        let x = rng.unit();
        if x < light {
            Tier::Light
        } else if x < light + medium {
            Tier::Medium
        } else {
            Tier::Heavy
        }
    }
}

/// One subscriber's habits. Buffers are reused from one subscriber to the next.
#[derive(Debug, Default)]
pub(crate) struct Profile {
    /// Volume tier.
    pub(crate) tier: Option<Tier>,
    /// Mean events per active day.
    pub(crate) rate: f64,
    /// Probability that a day is silent (no ordinary traffic).
    silent_p: f64,
    /// Days `[from, to)` of an absence (travel, phone off): silent.
    away: (u32, u32),
    /// Probability that an event is outgoing.
    out_p: f64,
    /// Probability that an event is an SMS.
    sms_p: f64,
    /// Probability that an incoming event's counterparty is withheld.
    withheld_in_p: f64,
    /// Probability that an incoming SMS comes from an alphanumeric sender.
    alpha_p: f64,
    /// Probability that an ordinary event is with a regular domestic contact.
    regular_p: f64,
    /// Probability that an event is with one of `foreign` (0 for most subscribers).
    pub(crate) foreign_share: f64,
    /// Foreign regions this subscriber talks to (indices into [`Catalog::countries`]).
    pub(crate) foreign: Vec<u16>,
    /// Regular domestic contacts, most frequent first.
    contacts: Vec<Num>,
    /// Regular foreign contacts (family, business partners).
    foreign_contacts: Vec<Num>,
}

impl Profile {
    /// Draws the habits of one subscriber into `self`.
    pub(crate) fn draw(
        &mut self,
        cat: &Catalog,
        days: u32,
        international: bool,
        withheld_share: f64,
        rng: &mut impl Draw,
    ) {
        let tier = Tier::draw(rng, international);
        self.tier = Some(tier);
        self.rate = tier.base_rate() * rng.between(-0.5, 0.5).exp();
        self.silent_p = rng.between(0.0, 0.2);
        self.away = if days > 7 && rng.chance(0.1) {
            let len = rng.int_in(2, 7);
            let from = rng.below(u64::from(days - len)) as u32;
            (from, from + len)
        } else {
            (0, 0)
        };
        self.out_p = rng.between(0.35, 0.65);
        self.sms_p = rng.between(0.1, 0.4);
        // Withheld callers are incoming only; about half the events are incoming.
        self.withheld_in_p = (2.0 * withheld_share * rng.between(0.5, 1.5)).min(1.0);
        self.alpha_p = rng.between(0.05, 0.3);
        self.regular_p = rng.between(0.5, 0.9);
        let n_contacts = rng.int_in(3, 40) as usize;
        self.contacts.clear();
        self.contacts
            .extend((0..n_contacts).map(|_| cat.random_domestic(rng)));
        self.foreign.clear();
        self.foreign_contacts.clear();
        self.foreign_share = 0.0;
        if international {
            let n = rng.int_in(1, 3);
            for _ in 0..n {
                let c = cat.random_country(&self.foreign, rng);
                self.foreign.push(c);
            }
            self.foreign_share = rng.between(0.2, 0.7);
            for &c in &self.foreign {
                let templates = &cat.countries[usize::from(c)].templates;
                for _ in 0..rng.int_in(1, 6) {
                    self.foreign_contacts.push(cat.random_among(templates, rng));
                }
            }
        }
    }

    /// How many ordinary events day `day` (index in the range) has; `factor` is the day's
    /// calendar factor (weekends are quieter).
    pub(crate) fn events_on(&self, day: u32, factor: f64, rng: &mut impl Draw) -> u32 {
        if (self.away.0..self.away.1).contains(&day) || rng.chance(self.silent_p) {
            return 0;
        }
        let jitter = rng.between(0.7, 1.3);
        rng.poisson(self.rate * factor * jitter)
    }

    /// Draws one ordinary event: (outgoing, sms, counterparty, duration in seconds for calls).
    #[inline]
    pub(crate) fn event(
        &self,
        cat: &Catalog,
        rng: &mut impl Draw,
    ) -> (bool, bool, Party, Option<i64>) {
        let out = rng.chance(self.out_p);
        let sms = rng.chance(self.sms_p);
        let party = if !out && rng.chance(self.withheld_in_p) {
            Party::Withheld
        } else if !out && sms && rng.chance(self.alpha_p) {
            Party::Alpha(ALPHA_SENDERS[rng.below(ALPHA_SENDERS.len() as u64) as usize])
        } else if !self.foreign.is_empty() && rng.chance(self.foreign_share) {
            if rng.chance(0.8) {
                Party::Number(
                    self.foreign_contacts[rng.below(self.foreign_contacts.len() as u64) as usize],
                )
            } else {
                let c = self.foreign[rng.below(self.foreign.len() as u64) as usize];
                Party::Number(cat.random_among(&cat.countries[usize::from(c)].templates, rng))
            }
        } else if rng.chance(self.regular_p) {
            // Skewed: the first contacts are called far more often.
            let u = rng.unit();
            Party::Number(self.contacts[(u * u * self.contacts.len() as f64) as usize])
        } else {
            Party::Number(cat.random_domestic(rng))
        };
        let duration = if sms {
            None
        } else if rng.chance(0.12) {
            Some(0) // not answered
        } else {
            Some((45f64.ln() + 1.1 * rng.normal()).exp().clamp(1.0, 7200.0) as i64)
        };
        (out, sms, party, duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::Xoshiro256PlusPlus;

    fn catalog() -> Catalog {
        Catalog::new(&["NG".into(), "JM".into(), "KH".into(), "+88216".into()]).unwrap()
    }

    #[test]
    fn digits_are_zero_padded() {
        let mut s = String::new();
        push_digits(42, 6, &mut s);
        assert_eq!(s, "000042");
    }

    #[test]
    fn subscriber_numbers_are_unique_and_valid_range() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..200_000 {
            let r = subscriber_rest(i);
            assert!(r < TW_MOBILE_SPACE);
            assert!(seen.insert(r));
        }
    }

    /// Every format is valid in libphonenumber and maps to the intended region.
    #[test]
    fn formats_are_valid_for_their_region() {
        let cat = catalog();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let mut bad = Vec::new();
        let mut check = |tpl: u32, region: &str, rng: &mut Xoshiro256PlusPlus| {
            for _ in 0..2000 {
                let s = cat.format(cat.random_of(tpl, rng));
                let n = phonenumber::parse(None, &s).unwrap_or_else(|e| panic!("{s}: {e}"));
                let got = n.country().id().map(|id| format!("{id:?}"));
                if !phonenumber::is_valid(&n) || got.as_deref() != Some(region) {
                    bad.push(format!(
                        "{s} ({region}): valid {} region {got:?}",
                        phonenumber::is_valid(&n)
                    ));
                    break;
                }
            }
        };
        for c in &cat.countries {
            for &t in &c.templates {
                check(t, c.code, &mut rng);
            }
        }
        check(cat.tw_mobile, "TW", &mut rng);
        for &t in &cat.tw_landlines {
            check(t, "TW", &mut rng);
        }
        for i in [0, 1, 12_345, 89_999_999] {
            let rest = subscriber_rest(i);
            let s = cat.format(Num {
                tpl: cat.tw_mobile,
                rest,
            });
            let n = phonenumber::parse(None, &s).unwrap();
            if !phonenumber::is_valid(&n) {
                bad.push(s);
            }
        }
        assert!(bad.is_empty(), "invalid formats:\n{}", bad.join("\n"));
    }

    #[test]
    fn bad_hotzone_entries_are_rejected() {
        assert!(Catalog::new(&["XX".into()]).is_err());
        assert!(Catalog::new(&["+".into()]).is_err());
        assert!(Catalog::new(&["+12a".into()]).is_err());
        assert!(Catalog::new(&[]).is_err());
        let cat = Catalog::new(&["ng".into(), "+88216".into()]).unwrap();
        assert_eq!(cat.hot.len(), 2);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let s = cat.format(cat.random_among(&cat.hot[1].templates, &mut rng));
        assert!(s.starts_with("+88216") && s.len() == 13, "{s}");
    }

    #[test]
    fn poisson_mean_is_close() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        for lambda in [0.3, 2.0, 10.0, 45.0] {
            let n = 20_000;
            let sum: u64 = (0..n).map(|_| u64::from(rng.poisson(lambda))).sum();
            let mean = sum as f64 / f64::from(n);
            assert!(
                (mean - lambda).abs() < 0.05 * lambda + 0.02,
                "lambda {lambda}: mean {mean}"
            );
        }
    }
}
