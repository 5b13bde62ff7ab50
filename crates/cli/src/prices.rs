//! `switchyard prices import|check|diff`: build, audit and compare price catalogs.
//!
//! The logic lives in `switchyard-pricing` (`import`, `audit`, `diff`); this file parses
//! arguments, reads files and prints plain-text tables (or JSON with `--json`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use switchyard_pricing::audit::{self, CheckReport, GatewayView};
use switchyard_pricing::diff::{self, CatalogDiff, RouteChoice};
use switchyard_pricing::import::{build_catalog, ImportReport, SourceFile};
use switchyard_pricing::{Catalog, Decimal, NaiveDate, Utc};

const LITELLM_DEFAULT: &str = "../shared/data/prices/litellm_model_prices.json";
const GENAI_DEFAULT: &str = "../shared/data/prices/genai_prices.json";

/// Price catalog commands.
#[derive(Debug, Subcommand)]
pub enum PricesCmd {
    /// Build a curated catalog from LiteLLM's and genai-prices' catalogs.
    Import {
        /// LiteLLM `model_prices_and_context_window.json`.
        #[arg(long, default_value = LITELLM_DEFAULT)]
        litellm: PathBuf,
        /// genai-prices export.
        #[arg(long, default_value = GENAI_DEFAULT)]
        genai: PathBuf,
        /// LiteLLM version to record as provenance (e.g. `litellm==1.109.1`).
        #[arg(long)]
        litellm_version: Option<String>,
        /// Day for price history and deprecation checks (default: today, UTC).
        #[arg(long)]
        as_of: Option<NaiveDate>,
        /// Where to write the catalog.
        #[arg(long, default_value = "catalog/prices.json")]
        out: PathBuf,
        /// Print the import report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Audit a catalog: age, deprecations, source disagreements, unpriced config models.
    Check {
        /// Gateway config whose models must all be priced.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Catalog file (default: the embedded catalog).
        #[arg(long)]
        catalog: Option<PathBuf>,
        /// Report source disagreements above this many percent.
        #[arg(long, default_value = "1")]
        tolerance: Decimal,
        /// LiteLLM source (for disagreements; skipped if absent).
        #[arg(long, default_value = LITELLM_DEFAULT)]
        litellm: PathBuf,
        /// genai-prices source (for disagreements; skipped if absent).
        #[arg(long, default_value = GENAI_DEFAULT)]
        genai: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show price changes between two catalogs and how they move each route's choice.
    Diff {
        /// The old catalog file.
        old: PathBuf,
        /// The new catalog file.
        new: PathBuf,
        /// Gateway config whose routes to re-evaluate.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Run a prices command.
pub fn run(cmd: PricesCmd) -> anyhow::Result<()> {
    match dispatch(cmd) {
        // `switchyard prices check | head` is not an error.
        Err(e) if is_broken_pipe(&e) => Ok(()),
        other => other,
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn dispatch(cmd: PricesCmd) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match cmd {
        PricesCmd::Import {
            litellm,
            genai,
            litellm_version,
            as_of,
            out: path,
            json,
        } => {
            let today = as_of.unwrap_or_else(|| Utc::now().date_naive());
            let lit = SourceFile::read(&litellm, "litellm", litellm_version)
                .context("read the LiteLLM catalog")?;
            let gen = SourceFile::read(&genai, "genai-prices", None)
                .context("read the genai-prices catalog")?;
            let (catalog, report) =
                build_catalog(Some(lit.input()), Some(gen.input()), today, Utc::now());
            let text = catalog.to_json().context("serialise the catalog")?;
            std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            } else {
                print_import(&mut out, &catalog, &report, &path)?;
            }
        }
        PricesCmd::Check {
            config,
            catalog,
            tolerance,
            litellm,
            genai,
            json,
        } => {
            let catalog = load_catalog(catalog.as_deref())?;
            let today = Utc::now().date_naive();
            let sources = read_sources(&litellm, &genai, today)?;
            let view = config.as_deref().map(read_config).transpose()?;
            let report = audit::check(&catalog, today, sources.as_ref(), view.as_ref(), tolerance);
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            } else {
                print_check(&mut out, &report)?;
            }
        }
        PricesCmd::Diff {
            old,
            new,
            config,
            json,
        } => {
            let (a, b) = (load_catalog(Some(&old))?, load_catalog(Some(&new))?);
            let d = diff::diff(&a, &b);
            let view = config.as_deref().map(read_config).transpose()?;
            let routes = view.as_ref().map(|v| diff::route_choices(&a, &b, v));
            if json {
                let v = serde_json::json!({ "catalog": d, "routes": routes });
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                print_diff(&mut out, &d, routes.as_deref())?;
            }
        }
    }
    Ok(())
}

pub(crate) fn load_catalog(path: Option<&Path>) -> anyhow::Result<Catalog> {
    match path {
        Some(p) => Catalog::load(p).with_context(|| format!("load catalog {}", p.display())),
        None => Catalog::embedded().context("load the embedded catalog"),
    }
}

pub(crate) fn read_config(path: &Path) -> anyhow::Result<GatewayView> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("read config {}", path.display()))?;
    GatewayView::from_toml(&text).with_context(|| format!("parse config {}", path.display()))
}

/// Re-import both sources for the disagreement check; `None` if either file is missing.
fn read_sources(lit: &Path, gen: &Path, today: NaiveDate) -> anyhow::Result<Option<ImportReport>> {
    if !lit.exists() || !gen.exists() {
        return Ok(None);
    }
    let l = SourceFile::read(lit, "litellm", None).context("read the LiteLLM catalog")?;
    let g = SourceFile::read(gen, "genai-prices", None).context("read the genai-prices catalog")?;
    Ok(Some(
        build_catalog(Some(l.input()), Some(g.input()), today, Utc::now()).1,
    ))
}

fn print_import(
    out: &mut impl Write,
    c: &Catalog,
    r: &ImportReport,
    path: &Path,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "wrote {} ({} entries, version {})",
        path.display(),
        c.entries.len(),
        c.version
    )?;
    writeln!(out, "\n{:<16} {:>8}", "PROVIDER", "ENTRIES")?;
    for (p, n) in c.providers() {
        writeln!(out, "{p:<16} {n:>8}")?;
    }
    writeln!(
        out,
        "\nskipped: {} other providers, {} other modes, {} region/commitment variants",
        r.skipped_provider, r.skipped_mode, r.skipped_variant
    )?;
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for p in &r.problems {
        *kinds.entry(format!("{:?}", p.kind)).or_default() += 1;
    }
    writeln!(out, "\n{:<16} {:>8}", "PROBLEM", "COUNT")?;
    for (k, n) in &kinds {
        writeln!(out, "{k:<16} {n:>8}")?;
    }
    writeln!(out, "{:<16} {:>8}", "Disagreement", r.disagreements.len())?;
    writeln!(
        out,
        "\n{:<14} {:<16} {:<16} {:<40} DETAIL",
        "SOURCE", "KIND", "PROVIDER", "MODEL"
    )?;
    for p in &r.problems {
        let kind = format!("{:?}", p.kind);
        writeln!(
            out,
            "{:<14} {kind:<16} {:<16} {:<40} {}",
            p.source, p.provider, p.model, p.detail
        )?;
    }
    Ok(())
}

fn print_check(out: &mut impl Write, r: &CheckReport) -> anyhow::Result<()> {
    writeln!(
        out,
        "catalog {} — {} days old",
        r.catalog_version, r.age_days
    )?;
    writeln!(out, "\npast deprecation date: {}", r.past_deprecation.len())?;
    for d in &r.past_deprecation {
        writeln!(out, "  {:<16} {:<48} {}", d.provider, d.model, d.date)?;
    }
    writeln!(
        out,
        "flagged deprecated (no date): {}",
        r.flagged_deprecated
    )?;
    match (&r.disagreements, r.source_unpriced) {
        (Some(ds), Some(unpriced)) => {
            writeln!(out, "\nsource models without a token price: {unpriced}")?;
            writeln!(
                out,
                "source disagreements above {}%: {}",
                r.tolerance_percent,
                ds.len()
            )?;
            writeln!(
                out,
                "  {:<14} {:<44} {:<15} {:>12} {:>12} {:>8}",
                "PROVIDER", "MODEL", "FIELD", "LITELLM", "GENAI", "DIFF%"
            )?;
            for d in ds {
                writeln!(
                    out,
                    "  {:<14} {:<44} {:<15} {:>12} {:>12} {:>8}",
                    d.provider, d.model, d.field, d.litellm, d.genai, d.diff_percent
                )?;
            }
        }
        _ => writeln!(
            out,
            "\nsource catalogs not found: disagreements not checked"
        )?,
    }
    if let Some(deps) = &r.deployments {
        let unpriced = deps.iter().filter(|d| d.price.is_err()).count();
        writeln!(
            out,
            "\nconfig models: {} ({} unpriced)",
            deps.len(),
            unpriced
        )?;
        writeln!(
            out,
            "  {:<24} {:<14} {:<32} {:>10} {:>10}  SOURCE",
            "MODEL", "PROVIDER", "UPSTREAM", "INPUT/M", "OUTPUT/M"
        )?;
        for d in deps {
            match &d.price {
                Ok(p) => writeln!(
                    out,
                    "  {:<24} {:<14} {:<32} {:>10} {:>10}  {}",
                    d.model, d.provider, d.upstream, p.price.input, p.price.output, p.price.source
                )?,
                Err(e) => writeln!(
                    out,
                    "  {:<24} {:<14} {:<32} {:>10} {:>10}  {e}",
                    d.model, d.provider, d.upstream, "UNPRICED", "-"
                )?,
            }
        }
    }
    Ok(())
}

fn print_diff(
    out: &mut impl Write,
    d: &CatalogDiff,
    routes: Option<&[RouteChoice]>,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "{} added, {} removed, {} changed",
        d.added.len(),
        d.removed.len(),
        d.changed.len()
    )?;
    for k in &d.added {
        writeln!(out, "  + {k}")?;
    }
    for k in &d.removed {
        writeln!(out, "  - {k}")?;
    }
    let show = |v: Option<Decimal>| v.map_or_else(|| "-".to_owned(), |d| d.to_string());
    for c in &d.changed {
        for f in &c.fields {
            writeln!(
                out,
                "  ~ {:<56} {:<20} {} → {}",
                c.key,
                f.field,
                show(f.old),
                show(f.new)
            )?;
        }
    }
    let Some(routes) = routes else { return Ok(()) };
    let (i, o) = diff::STANDARD_REQUEST;
    writeln!(
        out,
        "\ncheapest candidate per route ({i} input + {o} output tokens):"
    )?;
    writeln!(out, "  {:<20} {:<40} {:<40} CHANGED", "ROUTE", "OLD", "NEW")?;
    for r in routes {
        let show = |c: &Option<diff::Choice>| {
            c.as_ref().map_or_else(
                || "(none priced)".to_owned(),
                |c| format!("{} ${}", c.model, c.cost),
            )
        };
        let mark = if r.changed { "yes" } else { "no" };
        writeln!(
            out,
            "  {:<20} {:<40} {:<40} {mark}",
            r.route,
            show(&r.old),
            show(&r.new)
        )?;
        if !r.unpriced.is_empty() {
            writeln!(
                out,
                "  {:<20} unpriced candidates: {}",
                "",
                r.unpriced.join(", ")
            )?;
        }
    }
    Ok(())
}
