//! `switchyard check-config FILE`: validate and print the resolved routing table.

use std::{io::Write, path::Path};

use switchyard_server::{config, SecretLookup};

/// Validate a config file; print every problem, or the resolved table.
pub fn run(path: &Path, secrets: SecretLookup) -> anyhow::Result<()> {
    let cfg = match config::load(path) {
        Ok(c) => c,
        Err(errs) => return Err(report(path, &errs)),
    };
    let snap = match switchyard_server::check(&cfg, &secrets) {
        Ok(s) => s,
        Err(errs) => return Err(report(path, &errs)),
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}: OK", path.display())?;
    writeln!(out, "\nmodels:")?;
    writeln!(
        out,
        "  {:<24} {:<14} {:<18} {:<14} {:<28} tier",
        "name", "provider", "kind", "vendor", "upstream"
    )?;
    for d in &snap.deployments {
        writeln!(
            out,
            "  {:<24} {:<14} {:<18} {:<14} {:<28} {}",
            d.name,
            d.provider_name,
            d.provider_kind.as_str(),
            d.vendor.key,
            d.upstream,
            d.tier.as_deref().unwrap_or("-")
        )?;
    }
    writeln!(
        out,
        "\nprices (USD per million tokens: input / cached input / output; source):"
    )?;
    let mut unpriced = Vec::new();
    for d in &snap.deployments {
        match &d.price {
            Some(p) => writeln!(
                out,
                "  {:<24} {} / {} / {}  {}",
                d.name,
                p.input.normalize(),
                p.cache_read
                    .map_or("-".to_owned(), |c| c.normalize().to_string()),
                p.output.normalize(),
                d.price_source
            )?,
            None => {
                writeln!(out, "  {:<24} UNPRICED  {}", d.name, d.price_source)?;
                unpriced.push(d.name.as_str());
            }
        }
    }
    writeln!(out, "\nroutes:")?;
    for name in &snap.route_order {
        let r = &snap.routes[name];
        let default = if snap.default_route.as_deref() == Some(name) {
            " (default: model \"auto\")"
        } else {
            ""
        };
        writeln!(
            out,
            "  {name}{default}: strategy={} max_attempts={}",
            r.strategy.as_str(),
            r.max_attempts
        )?;
        for (i, id) in r.candidates.iter().enumerate() {
            let d = snap.deployment(*id);
            writeln!(
                out,
                "    {}. {} -> {}/{}",
                i + 1,
                d.name,
                d.provider_name,
                d.upstream
            )?;
        }
    }
    if let Some(b) = snap.baseline {
        writeln!(out, "\nbaseline: {}", snap.deployment(b).name)?;
    }
    if !unpriced.is_empty() {
        writeln!(
            out,
            "\nwarning: {} model(s) UNPRICED: {}. Their cost is reported as `unpriced` (never $0); \
             set `price` on the model, or `vendor` on its provider if the catalog knows it under another vendor.",
            unpriced.len(),
            unpriced.join(", ")
        )?;
    }
    Ok(())
}

fn report(path: &Path, errs: &[switchyard_core::ConfigError]) -> anyhow::Error {
    let mut msg = format!("{} has {} problem(s):", path.display(), errs.len());
    for e in errs {
        msg.push_str(&format!("\n  {e}"));
    }
    anyhow::anyhow!(msg)
}
