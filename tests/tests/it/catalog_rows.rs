//! dump's catalog rows (`dump::rows`): a column a query does not return, or returns with
//! another type, is an error naming the query and the column, never a panic.

use rdump_tests::Cluster;

#[test]
fn a_missing_or_mistyped_column_is_an_error_naming_query_and_column() {
    let cluster = Cluster::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (client, connection) = rt
        .block_on(tokio_postgres::connect(
            &cluster.conninfo("postgres"),
            tokio_postgres::NoTls,
        ))
        .unwrap();
    rt.spawn(connection);
    let rows = rt
        .block_on(dump::rows::query(
            &client,
            "SELECT 42::int4 AS answer, 'x'::text AS name",
            &[],
            "reading the answer",
        ))
        .unwrap();
    let row = rows.one().unwrap();
    assert_eq!(row.get::<i32>("answer").unwrap(), 42);
    assert_eq!(row.char("name").unwrap(), Some('x'));

    let missing = row.get::<i32>("question").unwrap_err().to_string();
    assert!(
        missing.starts_with("reading the answer: column `question`: "),
        "{missing}"
    );
    let mistyped = row.get::<String>("answer").unwrap_err().to_string();
    assert!(
        mistyped.starts_with("reading the answer: column `answer`: ") && mistyped.contains("int4"),
        "{mistyped}"
    );

    let none = rt
        .block_on(dump::rows::query(
            &client,
            "SELECT 1 AS one WHERE false",
            &[],
            "reading nothing",
        ))
        .unwrap();
    let err = none.one().err().map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("reading nothing: expected one row, the server returned 0")
    );
}
