//! Routing rules, compiled once at load: first match wins.

use regex::Regex;

use crate::{config::RuleWhen, routable::Routable, DeploymentId, Features};

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Name reported in headers and the ledger.
    pub name: String,
    when: RuleWhen,
    regex: Option<Regex>,
    /// What the rule does when it matches.
    pub action: RuleAction,
}

/// What a matching rule does.
#[derive(Debug, Clone)]
pub enum RuleAction {
    /// Use these deployments, in this order.
    Use(Vec<DeploymentId>),
    /// Hand over to another route.
    Route(String),
}

impl Rule {
    /// Compile a rule; the regex error is returned as text.
    pub fn new(name: String, when: RuleWhen, action: RuleAction) -> Result<Rule, String> {
        let regex = when
            .prompt_regex
            .as_deref()
            .map(Regex::new)
            .transpose()
            .map_err(|e| e.to_string())?;
        Ok(Rule {
            name,
            when,
            regex,
            action,
        })
    }

    /// Whether every given condition holds.
    pub fn matches(&self, f: &Features, req: &impl Routable) -> bool {
        let w = &self.when;
        let opt = |cond: &Option<crate::config::OneOrMany>, v: &Option<String>| match cond {
            None => true,
            Some(c) => v.as_deref().is_some_and(|v| c.contains(v)),
        };
        let flag = |cond: Option<bool>, v: bool| cond.is_none_or(|c| c == v);
        opt(&w.task, &f.task)
            && opt(&w.tenant, &f.tenant)
            && opt(&w.lane, &f.lane)
            && w.min_input_tokens.is_none_or(|n| f.input_tokens >= n)
            && w.max_input_tokens.is_none_or(|n| f.input_tokens <= n)
            && flag(w.tools, f.tools)
            && flag(w.images, f.images)
            && flag(w.json, f.json)
            && w.tags
                .as_ref()
                .is_none_or(|tags| tags.iter().any(|t| f.tags.iter().any(|ft| ft == t)))
            && w.metadata
                .iter()
                .all(|(k, v)| req.metadata_str(k) == Some(v.as_str()))
            && self.regex.as_ref().is_none_or(|re| req.text_matches(re))
    }
}
