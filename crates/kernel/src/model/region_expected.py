# The expected answers of region.rs's test: run with python phonenumbers of the release the phonenumber crate embeds (9.0.33), `python region_expected.py > region.tsv`.
"""Expected region of numbers of the calling codes several regions share, per libphonenumber
(python phonenumbers) and REFERENCE.md §2: the region libphonenumber gives a valid number,
else the main region of its calling code. Columns: E.164, expected region."""
import random, sys
import phonenumbers as pn
from phonenumbers import PhoneNumberType as T, PhoneNumberFormat as F
from phonenumbers.phonenumberutil import NumberParseException

rng = random.Random(24)
types = [getattr(T, n) for n in dir(T) if n.isupper() and n not in ("UNKNOWN",)]
shared = {cc: rs for cc, rs in pn.COUNTRY_CODE_TO_REGION_CODE.items() if len(rs) > 1}


def digits(n):
    return "".join(rng.choice("0123456789") for _ in range(n))


rows = {}
for cc, regions in sorted(shared.items()):
    main = pn.region_code_for_country_code(cc)
    nationals = set()
    for r in regions:
        for t in types:
            ex = pn.example_number_for_type(r, t)
            if ex is None or ex.country_code != cc:
                continue
            nsn = pn.national_significant_number(ex)
            nat = "".join(ch for ch in pn.format_number(ex, F.NATIONAL) if ch.isdigit())
            nationals.update([nsn, nat, "0" + nsn, "00" + nsn, "1" + nsn, "8" + nsn, nsn[:-1], nsn + "5"])
            for k in range(1, len(nsn)):
                nationals.add(nsn[:k] + digits(len(nsn) - k))
            for _ in range(8):  # mostly valid numbers of the region's own ranges
                k = len(nsn) - rng.randint(2, 4)
                nationals.add(nsn[:k] + digits(len(nsn) - k))
                nationals.add("0" + nsn[:k] + digits(len(nsn) - k))
        meta = pn.PhoneMetadata.metadata_for_region(r)
        if meta.leading_digits:
            # numbers that start where the region's leading digits could
            for _ in range(40):
                head = "".join(ch for ch in meta.leading_digits if ch.isdigit())[:rng.randint(1, 5)]
                nationals.add(head + digits(rng.randint(4, 9)))
    for length in range(3, 16 - len(str(cc))):
        for _ in range(60):
            nationals.add(digits(length))
    for nat in nationals:
        number = f"{cc}{nat}"
        if not (5 <= len(number) <= 15):
            continue
        try:
            p = pn.parse("+" + number, None)
            region = pn.region_code_for_number(p) if pn.is_valid_number(p) else main
        except NumberParseException:
            region = main
        rows[number] = region or main
w = sys.stdout
w.write("# E.164 digits\tregion per libphonenumber " + pn.__version__ + " (python phonenumbers): its region when valid, else the main region of the code\n")
for number, region in sorted(rows.items()):
    w.write(f"{number}\t{region}\n")
