"""The import CSV is validated by DQR's header rules, row by row, before anything is queried."""

from __future__ import annotations

import pytest

from compliance.importer.csvrows import MAX_ROWS, CsvFileError, parse_csv

HEADER = "Accession Number,Patient ID,Study Date,Modality,Subject,Session"


def check(*rows: str, header: str = HEADER):
    return parse_csv(("\n".join([header, *rows]) + "\n").encode(), "cohort.csv")


def problems(*rows: str, header: str = HEADER) -> dict[int, str]:
    return {problem.row: problem.reason for problem in check(*rows, header=header).problems}


def test_valid_rows_become_dqr_search_criteria():
    result = check(
        "ACC1,,,,S01,S01_CT1",
        ",PID7,20210105,CT,,",
        ",PID8,20210101-20210131,,,",
        ",PID9,-20210131,,,",
        ",PID10,20210101-,,,",
    )
    assert result.problems == ()
    criteria = {row.row: row.criteria for row in result.rows}
    assert criteria == {
        2: {"accessionNumber": "ACC1"},
        3: {"patientId": "PID7", "studyDateFrom": "20210105", "studyDateTo": "20210105", "modality": "CT"},
        4: {"patientId": "PID8", "studyDateFrom": "20210101", "studyDateTo": "20210131"},
        5: {"patientId": "PID9", "studyDateTo": "20210131"},
        6: {"patientId": "PID10", "studyDateFrom": "20210101"},
    }
    assert (result.rows[0].subject, result.rows[0].session) == ("S01", "S01_CT1")
    assert not result.rows[0].needs_pseudonym and result.rows[1].needs_pseudonym


def test_names_are_joined_as_dqr_joins_them():
    result = check("ACC1,SMITH,JOHN", "ACC2,SMITH,", header="Accession Number,Last Name,First Name")
    assert [row.criteria["patientName"] for row in result.rows] == ["SMITH,JOHN", "SMITH"]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (",PID1,2021-01-05,,,", "Study Date is written with dashes inside a date"),
        (",PID1,20210230,,,", "Study Date is not a real calendar date"),
        (",PID1,2021015,,,", "Study Date is not a date written YYYYMMDD"),
        (",PID1,20210131-20210101,,,", "Study Date range ends before it starts"),
        (",PID1,-,,,", "open range on both ends"),
        (",,,,,", "no search criteria: DQR would search every study on the PACS"),
        (",,,CT,,", "the search does not name one study"),
        (",PID1,,,,", "the search does not name one study"),
        (",,20210105,,,", "the search does not name one study"),
        ("ACC1,,,ct,,", "Modality is not a DICOM modality code"),
        ("ACC1,,,,,S1 CT", "the Session label may hold only letters, digits"),
        ("ACC1,,,,,SESSION_LABEL_TOO_LONG", "longer than 16 characters"),
        ("ACC1,,,,ACC1,", "the Subject label is the row's accession number or patient ID"),
        (",PID1,20210105,,,PID1", "the Session label is the row's accession number or patient ID"),
        ('ACC1,,,,"""""",', "Subject cannot be cleared"),
        ("ACC1,,,", "4 cells but the header has 6 columns"),
        ("ACC1,,,,,,extra", "7 cells but the header has 6 columns"),
    ],
)
def test_a_bad_row_is_refused_with_its_number_and_reason(row, reason):
    found = problems("ACC0,,,,,", row)
    assert list(found) == [3], found
    assert reason in found[3]


def test_reasons_never_echo_the_cell_values():
    found = problems(",PID123456,2021-01-05,,,", "ACC999999,,,,ACC999999,")
    assert all("PID123456" not in reason and "ACC999999" not in reason for reason in found.values())


def test_repeated_searches_and_session_labels_refuse_the_later_row():
    found = problems("ACC1,,,,,E1", "ACC1,,,,,", "ACC2,,,,,E1")
    assert found == {
        3: "the same search as row 2: one row per study",
        4: "Session label already used by row 2: Session labels must be unique",
    }


def test_row_numbers_are_spreadsheet_rows_counting_blank_lines():
    result = check("ACC1,,,,,", "", ",,,,,", "ACC2,,,,,")
    assert [row.row for row in result.rows] == [2, 5]
    assert [problem.row for problem in result.problems] == [4]


def test_relabel_headers_pass_through_and_conflicting_ones_are_refused():
    header = "Accession Number,Relabel Study Date,Relabel Patient Birth Date,Relabel Patient ID"
    result = check('ACC1,20200101,"""""",', "ACC2,,,NEWID", "ACC3,2020-01-01,,", header=header)
    assert result.rows[0].relabel == {"Relabel Study Date": "20200101", "Relabel Patient Birth Date": '""'}
    reasons = {problem.row: problem.reason for problem in result.problems}
    assert "Relabel Patient ID sets a tag that the Subject label also sets" in reasons[3]
    assert "Relabel Study Date is not a date written YYYYMMDD" in reasons[4]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Accession Number,Accession Number", "column 2: 'Accession Number' appears twice"),
        ("Accession Number ,Subject", "unknown header 'Accession Number ' (did you mean 'Accession Number'?"),
        ("AccessionNumber", "unknown header 'AccessionNumber' (did you mean 'Accession Number'?"),
        ("Subject,Session", "no search column"),
        ("Patient Name,Study Date", "unknown header 'Patient Name'"),
    ],
)
def test_a_bad_header_refuses_the_whole_file(header, message):
    with pytest.raises(CsvFileError) as error:
        parse_csv(f"{header}\nx\n".encode(), "cohort.csv")
    assert str(error.value).startswith("cohort.csv: row 1 (header): ")
    assert message in str(error.value)


def test_more_than_a_thousand_rows_refuses_the_file():
    rows = [f"ACC{number}" for number in range(MAX_ROWS + 1)]
    with pytest.raises(CsvFileError, match=r"1001 rows; DQR takes at most 1000 rows per CSV: split the file"):
        parse_csv(("Accession Number\n" + "\n".join(rows)).encode(), "big.csv")
    assert len(parse_csv(("Accession Number\n" + "\n".join(rows[:-1])).encode(), "ok.csv").rows) == MAX_ROWS


def test_file_level_errors_name_the_file_and_line():
    with pytest.raises(CsvFileError, match=r"big.csv: line 2: the CSV is not UTF-8 text \(byte 0xE9\)"):
        parse_csv(b"Accession Number\nRen\xe9\n", "big.csv")
    with pytest.raises(CsvFileError, match="the CSV is empty"):
        parse_csv(b"\n\n", "empty.csv")
    assert parse_csv(b"\xef\xbb\xbfAccession Number\nACC1\n", "bom.csv").rows[0].criteria == {
        "accessionNumber": "ACC1"
    }
