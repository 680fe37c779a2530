# The expected answers of national.rs's test: run with python phonenumbers of the release the phonenumber crate embeds (9.0.33), `python national_expected.py > national.tsv`.
"""Expected E.164 of national inputs per libphonenumber (python phonenumbers), for the
kernel's test of `national_to_e164`: region, input, expected E.164 (empty: not parsed)."""
import random, sys
import phonenumbers as pn
from phonenumbers import PhoneNumberType as T, PhoneNumberFormat as F
from phonenumbers.phonenumberutil import NumberParseException
rng = random.Random(23)
types = [T.FIXED_LINE, T.MOBILE, T.TOLL_FREE]
rows = set()
regions = sorted(pn.SUPPORTED_REGIONS)
for r in regions:
    cc = pn.country_code_for_region(r)
    meta = pn.PhoneMetadata.metadata_for_region(r)
    idd = meta.preferred_international_prefix or (meta.international_prefix if meta.international_prefix and meta.international_prefix.isdigit() else None)
    idd = "".join(ch for ch in idd if ch.isdigit()) if idd else None  # "8~10": the ~ is a dial tone wait
    inputs = set()
    for t in types:
        ex = pn.example_number_for_type(r, t)
        if ex is None:
            continue
        nsn = pn.national_significant_number(ex)
        nat = "".join(ch for ch in pn.format_number(ex, F.NATIONAL) if ch.isdigit())
        inputs.update([nsn, nat, str(cc) + nsn, str(cc) + nat])
        if idd:
            inputs.add(idd + str(cc) + nsn)
        inputs.add("0" + nsn)
        inputs.add("8" + nsn)
        # a random number of the same shape
        inputs.add(nsn[:2] + "".join(rng.choice("0123456789") for _ in nsn[2:]))
    # numbers of other countries dialled with this region's IDD
    if idd:
        for other in ("JM", "NG", "KH", "GB"):
            ex = pn.example_number_for_type(other, T.MOBILE)
            inputs.add(idd + str(ex.country_code) + pn.national_significant_number(ex))
    for s in inputs:
        if not (5 <= len(s) <= 17):
            continue
        try:
            n = pn.parse(s, r)
            e = pn.format_number(n, F.E164)
        except NumberParseException:
            e = ""
        rows.add((r, s, e))
w = sys.stdout
w.write("# region\tinput\texpected E.164 (empty: not a number) per libphonenumber " + pn.__version__ + " (python phonenumbers)\n")
for r, s, e in sorted(rows):
    w.write(f"{r}\t{s}\t{e}\n")
