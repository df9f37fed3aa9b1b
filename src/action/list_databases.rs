//! [`Client::list_databases`] and [`Client::list_database_names`].

use super::{ListNames, ListSpecifications, SessionMode};
use crate::error::Result;
use crate::operation;
use crate::options::ListDatabasesOptions;
use crate::results::DatabaseSpecification;
use crate::Client;

impl Client {
    /// The databases the authenticated user may see, with their sizes (`listDatabases`).
    /// Returns a [`ListDatabases`] action whose output is a `Vec<DatabaseSpecification>`.
    pub fn list_databases(&self) -> ListDatabases<'_, ListSpecifications> {
        ListDatabases::new(self.target())
    }

    /// The names of the databases the authenticated user may see (`listDatabases` with
    /// `nameOnly`). Returns a [`ListDatabases`] action whose output is a `Vec<String>`.
    ///
    /// ```no_run
    /// # async fn f(client: mongo_x509::Client) -> mongo_x509::error::Result<()> {
    /// let names = client.list_database_names().await?;
    /// # let _ = names; Ok(()) }
    /// ```
    pub fn list_database_names(&self) -> ListDatabases<'_, ListNames> {
        ListDatabases::new(self.target())
    }
}

action! {
    /// Lists databases: [`Client::list_databases`] and [`Client::list_database_names`].
    pub struct ListDatabases<'a, M> {}
    options: ListDatabasesOptions, list_databases_setters;
}

impl<'a, M, S: SessionMode<'a>> ListDatabases<'a, M, S> {
    async fn list(self, name_only: bool) -> Result<Vec<DatabaseSpecification>> {
        let t = self.target;
        let op = operation::ListDatabases::new(self.options, name_only, t.reads());
        t.execute(op, self.session.into_session()).await
    }
}

impl<'a, S: SessionMode<'a>> ListDatabases<'a, ListSpecifications, S> {
    async fn execute(self) -> Result<Vec<DatabaseSpecification>> {
        self.list(false).await
    }
}
into_future!(impl<'a, S> ListDatabases<'a, ListSpecifications, S> => Vec<DatabaseSpecification>
    where S: SessionMode<'a>);

impl<'a, S: SessionMode<'a>> ListDatabases<'a, ListNames, S> {
    async fn execute(self) -> Result<Vec<String>> {
        let specs = self.list(true).await?;
        Ok(specs.into_iter().map(|d| d.name).collect())
    }
}
into_future!(impl<'a, S> ListDatabases<'a, ListNames, S> => Vec<String> where S: SessionMode<'a>);
