//! `regrade schema [TABLE] [--json] [--mysql]`: print the table schemas embedded in the binary.

use anyhow::Result;
use regrade::schema::{self, Kind, Schema};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// One table (input or output); all tables when omitted.
    pub table: Option<String>,
    /// Print the schema JSON instead of a readable table.
    #[arg(long)]
    pub json: bool,
    /// Print the MySQL DDL of edX's grade tables the backfill loads into (from edX's
    /// migrations), in creation order.
    #[arg(long, conflicts_with_all = ["table", "json"])]
    pub mysql: bool,
}

pub fn execute(args: Args) -> Result<()> {
    if args.mysql {
        for (_, ddl) in schema::MYSQL_DDL {
            println!("{}", ddl.trim_end());
        }
        return Ok(());
    }
    let tables: Vec<&Schema> = match &args.table {
        Some(name) => vec![schema::find(name)?],
        None => schema::all().iter().collect(),
    };
    if args.json {
        let text = match tables.as_slice() {
            [one] if args.table.is_some() => serde_json::to_string_pretty(one)?,
            all => serde_json::to_string_pretty(all)?,
        };
        println!("{text}");
        return Ok(());
    }
    for (i, s) in tables.iter().enumerate() {
        if i > 0 {
            println!();
        }
        print!("{}", render(s));
    }
    Ok(())
}

/// A schema as readable text.
pub fn render(s: &Schema) -> String {
    let kind = match (s.kind, s.is_required()) {
        (Kind::Input, true) => "input, required",
        (Kind::Input, false) => "input, optional (absent = empty)",
        (Kind::Output, _) => "output",
    };
    let mut out = format!("{} ({kind})\n", s.table);
    if !s.edx_source.is_empty() {
        out.push_str(&format!("  edX source: {}\n", s.edx_source));
    }
    out.push_str(&format!("  {}\n", s.description));
    let name_w = s.columns.iter().map(|c| c.name.len()).max().unwrap_or(4).max(6);
    let type_w = s.columns.iter().map(|c| c.type_name.len()).max().unwrap_or(4).max(4);
    out.push_str(&format!("  {:<name_w$}  {:<type_w$}  {:<4}  meaning\n", "column", "type", "null"));
    for c in &s.columns {
        out.push_str(&format!(
            "  {:<name_w$}  {:<type_w$}  {:<4}  {}\n",
            c.name,
            c.type_name,
            if c.nullable { "yes" } else { "no" },
            if c.optional {
                format!("(optional column: absent reads as null) {}", c.meaning)
            } else {
                c.meaning.clone()
            }
        ));
    }
    out
}
