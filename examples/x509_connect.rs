//! Connects with MONGODB-X509 and shows who you are.
//!
//! ```sh
//! cargo run --example x509_connect -- 'mongodb://localhost:27017/?tls=true&tlsCAFile=ca.pem&tlsCertificateKeyFile=client.pem&tlsCertificateKeyFilePassword=...&authMechanism=MONGODB-X509'
//! # or: MONGODB_URI='mongodb://...' cargo run --example x509_connect
//! ```
//!
//! Prints the server version, the authenticated user (from `connectionStatus`) and the TLS
//! backend, then does a CRUD round trip in `mongo_x509_demo.items`.

use mongo_x509::bson::{doc, Document};
use mongo_x509::Client;

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run() -> mongo_x509::error::Result<()> {
    let uri = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("MONGODB_URI").ok())
        .ok_or_else(|| {
            mongo_x509::error::Error::invalid_argument(
                "give a connection string as the first argument or in MONGODB_URI",
            )
        })?;

    let client = Client::with_uri_str(&uri).await?;
    let admin = client.database("admin");

    let build = admin.run_command(doc! { "buildInfo": 1 }).await?;
    let version = build.get_str("version").unwrap_or("unknown");
    let status = admin.run_command(doc! { "connectionStatus": 1 }).await?;
    let users = status
        .get_document("authInfo")
        .and_then(|a| a.get_array("authenticatedUsers"))
        .map(|u| {
            u.iter()
                .filter_map(|u| u.as_document())
                .map(|u| {
                    format!(
                        "{} (db {})",
                        u.get_str("user").unwrap_or("?"),
                        u.get_str("db").unwrap_or("?")
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();

    println!("server version:     {version}");
    println!("authenticated user: {users}");
    println!(
        "TLS backend:        {}",
        client.tls_backend_name().unwrap_or("none")
    );
    if let Some(subject) = client.client_subject() {
        println!("certificate:        {subject}");
    }

    // A CRUD round trip.
    let items = client
        .database("mongo_x509_demo")
        .collection::<Document>("items");
    let id = items
        .insert_one(doc! { "name": "widget", "qty": 1 })
        .await?
        .inserted_id;
    items
        .update_one(doc! { "_id": &id }, doc! { "$inc": { "qty": 41 } })
        .await?;
    let found = items.find_one(doc! { "_id": &id }).await?;
    let qty = found.as_ref().and_then(|d| d.get_i32("qty").ok());
    let deleted = items.delete_one(doc! { "_id": &id }).await?.deleted_count;
    println!("CRUD round trip:    inserted, updated qty to {qty:?}, deleted {deleted}");
    if qty != Some(42) || deleted != 1 {
        return Err(mongo_x509::error::Error::internal(
            "the CRUD round trip did not read back what it wrote",
        ));
    }
    Ok(())
}
