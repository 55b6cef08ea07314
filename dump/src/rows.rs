//! Catalog rows read by column name.
//!
//! `tokio_postgres::Row::get` panics when a column is missing or has another type than
//! the one asked for; a server we have not met (a renamed catalog column, a type changed
//! between versions) could reach that. Every catalog query goes through [`query`], and
//! its rows are read with [`NamedRow::get`], which turns such a mismatch into an error
//! naming the query and the column.
//!
//! No row-mapping derive (`postgres-from-row` and the like): the model's fields are
//! seldom a column as it comes (a `"char"` becomes a `char`, two arrays are zipped into
//! pairs, a missing value has a default), so a derive would need a second struct per query.

use tokio_postgres::types::{FromSql, ToSql};
use tokio_postgres::{Client, Row};

use crate::error::{Error, QueryContext, Result};

/// The rows of one query, with what the query was for.
pub struct Rows {
    what: String,
    rows: Vec<Row>,
}

/// Runs a catalog query; `what` ("reading casts") names it in any error.
pub async fn query(
    client: &Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    what: &str,
) -> Result<Rows> {
    let rows = client.query(sql, params).await.during(|| what.to_owned())?;
    Ok(Rows {
        what: what.to_owned(),
        rows,
    })
}

impl Rows {
    pub fn iter(&self) -> impl Iterator<Item = NamedRow<'_>> {
        self.rows.iter().map(|row| NamedRow {
            what: &self.what,
            row,
        })
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The only row of a query that returns exactly one.
    pub fn one(&self) -> Result<NamedRow<'_>> {
        match self.rows.as_slice() {
            [row] => Ok(NamedRow {
                what: &self.what,
                row,
            }),
            rows => Err(Error::Other(format!(
                "{}: expected one row, the server returned {}",
                self.what,
                rows.len()
            ))),
        }
    }

    /// Each row mapped by `f`; the first error stops it.
    pub fn map<T>(&self, f: impl FnMut(NamedRow<'_>) -> Result<T>) -> Result<Vec<T>> {
        self.iter().map(f).collect()
    }
}

/// One row of a [`Rows`].
#[derive(Clone, Copy)]
pub struct NamedRow<'r> {
    what: &'r str,
    row: &'r Row,
}

impl<'r> NamedRow<'r> {
    /// Wraps a row that did not come through [`query`].
    pub fn new(row: &'r Row, what: &'r str) -> Self {
        NamedRow { what, row }
    }

    /// The value of column `column`; an error (not a panic) when there is no such
    /// column or its type does not convert to `T`.
    pub fn get<T: FromSql<'r>>(&self, column: &str) -> Result<T> {
        self.row.try_get(column).map_err(|cause| Error::Column {
            what: self.what.to_owned(),
            column: column.to_owned(),
            cause,
        })
    }

    /// The first character of a text column (a `"char"` cast to text); `None` when it
    /// is NULL or empty.
    pub fn char(&self, column: &str) -> Result<Option<char>> {
        Ok(self
            .get::<Option<&str>>(column)?
            .and_then(|s| s.chars().next()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_wants_exactly_one_row() {
        let rows = Rows {
            what: "reading nothing".into(),
            rows: Vec::new(),
        };
        let err = rows.one().err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("reading nothing: expected one row, the server returned 0")
        );
    }
}
