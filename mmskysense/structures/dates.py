"""The model's date code: the one place a date becomes the number the fusion module encodes.

Series keep full dates (``datetime.date`` or ``YYYY-MM-DD``) from the files to the loaders; the
code given to the temporal fusion (``doy`` in the batch, sinusoidally encoded by
``day_of_year_encoding``) is computed here:

* without a reference: the **day of year**, 1..366 (the paper's pretraining: a single season,
  the year carries no information; the scene loop, a multi-modal sample of one year);
* with a ``reference`` date: the **days since it** (multi-year series, as U-TAE does for PASTIS
  with 2018-09-01: the day of year would drop the year, so 2018-10-01 and 2019-10-01 would
  both be 274 and a September 2018 - November 2019 series would not be monotonic).

0 is also the code of a padded date; those are masked by ``date_masks`` wherever the code is
read, so a reference date's own code 0 is never mistaken for padding.
"""

import datetime
import re

DateLike = datetime.date | str

_DATE = re.compile(r'(\d{4})-?(\d{2})-?(\d{2})')


def as_date(value: DateLike, where: str = '') -> datetime.date:
    """A ``datetime.date`` (a ``datetime`` is truncated to its day), ``'YYYY-MM-DD'``,
    ``'YYYYMMDD'`` or an ISO timestamp -> the date; anything else is a ``ValueError`` naming
    ``where``."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    match = _DATE.match(str(value).strip())
    if match:
        try:
            return datetime.date(*(int(g) for g in match.groups()))
        except ValueError:
            pass
    about = f'{where}: ' if where else ''
    raise ValueError(f'{about}bad date {value!r}, expected YYYY-MM-DD')


def date_code(value: DateLike, reference: DateLike | None = None, where: str = '') -> int:
    """The model's code of a date: day of year (1..366) when ``reference`` is None, else the
    days since ``reference`` (negative before it)."""
    day = as_date(value, where)
    if reference is None:
        return day.timetuple().tm_yday
    return (day - as_date(reference, f'{where} (reference date)'.strip())).days
