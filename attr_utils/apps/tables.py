"""Result tables as a page shows them: no index column, rounded numbers, blanks instead of NaN."""

from __future__ import annotations

__all__ = ["tidy_table"]


def tidy_table(frame, *, index: bool = False, digits: int = 3, columns=None):
    """A DataFrame styled for a dashboard page.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table (any analysis result).
    index : bool, default=False
        Show the index; off for the usual 0..n-1 index, which means nothing to a reader.
    digits : int, default=3
        Decimals of floating-point columns.
    columns : list of str, optional
        Columns to show, in this order (default: all).

    Returns
    -------
    pandas.io.formats.style.Styler
        Renders as an HTML table in Jupyter and Voilà; missing values show as
        an empty cell rather than ``NaN``, and a value that rounds to zero as
        ``0.000``, never ``-0.000``. The data are ``frame``'s, unchanged.

    Raises
    ------
    ParameterError
        ``digits`` is not an integer in [0, 10], or ``columns`` names a column ``frame`` lacks.
    """
    from attr_utils.errors import ParameterError
    from attr_utils.validation import check_int

    digits = check_int("digits", digits, min=0, max=10)
    if columns is not None:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ParameterError(f"`columns` names column(s) {missing} the table lacks; it has {list(frame.columns)}")
        frame = frame[list(columns)]
    def number(value) -> str:
        if value is None or value != value:  # None or NaN: an empty cell
            return ""
        text = f"{value:.{digits}f}"
        return text[1:] if text.startswith("-") and float(text) == 0 else text  # never "-0.000"

    floats = list(frame.select_dtypes("floating").columns)
    styler = frame.style.format(precision=digits, na_rep="").format(number, subset=floats)
    if not index:
        styler = styler.hide(axis="index")
    return styler
