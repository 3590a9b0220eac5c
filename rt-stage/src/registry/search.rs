//! `search`: the registry's catalog (`/v2/_catalog`, followed page by page through its
//! Link headers), filtered by a term, with each repository's tags.

use serde::Deserialize;

use super::client::{header, Client};
use crate::error::{Error, Result};

/// Pages followed at most, in case a registry's Link headers loop.
const MAX_PAGES: usize = 100;

pub struct Found {
    pub repository: String,
    pub tags: Vec<String>,
}

pub fn search(client: &Client, term: &str, limit: usize) -> Result<Vec<Found>> {
    #[derive(Deserialize)]
    struct Catalog {
        #[serde(default)]
        repositories: Vec<String>,
    }
    #[derive(Deserialize)]
    struct Tags {
        tags: Option<Vec<String>>,
    }
    let mut repos = Vec::new();
    let mut next = Some("/v2/_catalog?n=100".to_string());
    for _ in 0..MAX_PAGES {
        let Some(url) = next.take() else { break };
        let resp = client.get(&url, &[])?;
        let mut resp = client.check(resp, |_| format!("search {}", client.registry()))?;
        next = header(&resp, "link").and_then(|l| next_link(&l));
        let body = client.read_body(&mut resp, 16 << 20, "catalog")?;
        let page: Catalog = serde_json::from_slice(&body).map_err(|e| Error::json("catalog", e))?;
        repos.extend(page.repositories.into_iter().filter(|r| r.contains(term)));
        if repos.len() >= limit {
            break;
        }
    }
    repos.truncate(limit);
    let mut out = Vec::new();
    for repository in repos {
        let resp = client.get(&format!("/v2/{repository}/tags/list"), &[])?;
        let mut resp = client.check(resp, |_| format!("tags of {repository}"))?;
        let body = client.read_body(&mut resp, 16 << 20, "tag list")?;
        let t: Tags = serde_json::from_slice(&body).map_err(|e| Error::json("tag list", e))?;
        let mut tags = t.tags.unwrap_or_default();
        tags.sort();
        out.push(Found { repository, tags });
    }
    Ok(out)
}

/// `</v2/_catalog?last=x&n=100>; rel="next"` → the URL.
fn next_link(h: &str) -> Option<String> {
    h.split(',')
        .find(|part| part.contains("rel=\"next\"") || part.contains("rel=next"))
        .and_then(|part| Some(part.split_once('<')?.1.split_once('>')?.0.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn link_header() {
        assert_eq!(
            super::next_link(r#"</v2/_catalog?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/_catalog?last=b&n=2")
        );
        assert_eq!(super::next_link(r#"</x>; rel="prev""#), None);
    }
}
