//! `[service] kind = "container"`: the keys of a container service,
//! checked before anything runs. Each value ends up as one argument of
//! `docker run` / `podman run`, so a value that would read as an option
//! there, or that the engine would take apart differently, is refused
//! here, naming the field.

use super::ServiceSection;

/// The release key that names the image's tag.
pub const IMAGE_TAG: &str = "IMAGE_TAG";

/// Which container engine's CLI the agent runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Docker,
    Podman,
}

impl Engine {
    /// The program, found on PATH.
    pub fn program(self) -> &'static str {
        match self {
            Engine::Docker => "docker",
            Engine::Podman => "podman",
        }
    }
}

/// A container service as the config names it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSpec {
    pub engine: Engine,
    pub name: String,
    /// The repository, without a tag: `127.0.0.1:5000/trader`.
    pub image: String,
    pub volumes: Vec<Volume>,
    pub network: String,
}

/// One `volumes` entry: `SOURCE:TARGET[:OPTIONS]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    /// An absolute host path (a bind mount, which must exist) or a named
    /// volume (the engine's to create).
    pub source: String,
    pub target: String,
    pub options: Option<String>,
}

impl Volume {
    pub fn is_bind(&self) -> bool {
        self.source.starts_with('/')
    }

    /// As `-v` takes it.
    pub fn arg(&self) -> String {
        match &self.options {
            Some(o) => format!("{}:{}:{o}", self.source, self.target),
            None => format!("{}:{}", self.source, self.target),
        }
    }
}

/// Checks the container keys of `[service]`.
pub(super) fn spec(s: &ServiceSection) -> Result<ContainerSpec, String> {
    for (field, given) in [
        ("command", !s.command.is_empty()),
        ("unit", s.unit.is_some()),
        ("systemctl", s.systemctl.is_some()),
        ("journalctl", s.journalctl.is_some()),
    ] {
        if given {
            return Err(format!(
                "service.{field}: a container service (kind = \"container\") has no {field}; the image's own entrypoint runs"
            ));
        }
    }
    let engine = match s.engine.as_deref() {
        None | Some("docker") => Engine::Docker,
        Some("podman") => Engine::Podman,
        Some(other) => {
            return Err(format!(
                "service.engine: {other:?} is not \"docker\" or \"podman\""
            ));
        }
    };
    let name = match &s.name {
        Some(n) if container_name(n) => n.clone(),
        Some(n) => {
            return Err(format!(
                "service.name: {n:?} is not a container name (letters, digits, '_', '.', '-'; starting with a letter or digit)"
            ));
        }
        None => {
            return Err(
                "service.name: a container service needs the container's name, e.g. \"trader\""
                    .into(),
            );
        }
    };
    let image = match &s.image {
        Some(i) => repository(i).map_err(|why| format!("service.image: {i:?} {why}"))?,
        None => {
            return Err(
                "service.image: a container service needs the image's repository, e.g. \"registry.example.com/trader\" (the tag comes from the release's IMAGE_TAG)".into(),
            );
        }
    };
    let volumes = s
        .volumes
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, v)| volume(v).map_err(|why| format!("service.volumes[{i}]: {v:?} {why}")))
        .collect::<Result<Vec<_>, _>>()?;
    let network = match s.network.as_deref() {
        None => "host".to_string(),
        Some(n) if container_name(n) => n.to_string(),
        Some(n) => {
            return Err(format!(
                "service.network: {n:?} is not a network name (\"host\" or a named network)"
            ));
        }
    };
    Ok(ContainerSpec {
        engine,
        name,
        image,
        volumes,
        network,
    })
}

/// What both engines accept as a container (and network) name.
pub fn container_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && n.len() <= 128
}

/// A repository reference without tag or digest: `[HOST[:PORT]/]PATH`.
pub fn repository(i: &str) -> Result<String, &'static str> {
    if i.is_empty() || i.starts_with('-') || i.len() > 255 {
        return Err("is not an image repository");
    }
    if !i
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':'))
    {
        return Err("is not an image repository");
    }
    let last = i.rsplit('/').next().unwrap_or(i);
    if last.contains(':') || i.contains('@') {
        return Err(
            "names a tag: give the repository only; the tag comes from the release's IMAGE_TAG",
        );
    }
    if i.contains("//") || i.ends_with('/') {
        return Err("is not an image repository");
    }
    Ok(i.to_string())
}

fn volume(v: &str) -> Result<Volume, &'static str> {
    let parts: Vec<&str> = v.split(':').collect();
    let (source, target, options) = match parts.as_slice() {
        [s, t] => (*s, *t, None),
        [s, t, o] => (*s, *t, Some(o.to_string())),
        _ => return Err("is not SOURCE:TARGET or SOURCE:TARGET:OPTIONS"),
    };
    if source.is_empty() || source.starts_with('-') {
        return Err("has no source (an absolute host path or a volume name)");
    }
    if !source.starts_with('/') && !container_name(source) {
        return Err("has a source that is neither an absolute path nor a volume name");
    }
    if !target.starts_with('/') {
        return Err("has a target that is not an absolute path in the container");
    }
    if v.chars().any(|c| c.is_control() || c == ',') {
        return Err("holds a control character or a comma");
    }
    Ok(Volume {
        source: source.to_string(),
        target: target.to_string(),
        options,
    })
}

/// A release's image tag (the value of IMAGE_TAG), or why it is not one.
/// The error names the key, never a value beyond the tag itself.
pub fn image_tag(release: &[(String, String)]) -> Result<String, String> {
    let tag = release
        .iter()
        .rev()
        .find(|(k, _)| k == IMAGE_TAG)
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| {
            format!("the release has no {IMAGE_TAG}: a container service runs IMAGE:{IMAGE_TAG}")
        })?;
    let mut chars = tag.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && tag.len() <= 128;
    if !ok {
        return Err(format!(
            "{IMAGE_TAG}={:?} is not an image tag (letters, digits, '_', '.', '-'; at most 128)",
            crate::text::inert(tag)
        ));
    }
    Ok(tag.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_tags_and_volumes() {
        assert!(repository("127.0.0.1:5000/trader").is_ok());
        assert!(repository("trader").is_ok());
        assert!(repository("trader:v1").unwrap_err().contains("names a tag"));
        assert!(repository("reg/trader@sha256:ab").is_err());
        assert!(repository("--privileged").is_err());
        let v = volume("/srv/trader:/data:ro").unwrap();
        assert!(v.is_bind());
        assert_eq!(v.arg(), "/srv/trader:/data:ro");
        assert!(!volume("data:/data").unwrap().is_bind());
        assert!(volume("/srv:data").is_err());
        assert!(volume("/srv").is_err());
        let env = |v: &str| vec![(IMAGE_TAG.to_string(), v.to_string())];
        assert_eq!(image_tag(&env("v1.2_rc-3")).unwrap(), "v1.2_rc-3");
        assert!(image_tag(&env("-x")).is_err());
        assert!(image_tag(&env("a b")).is_err());
        assert!(image_tag(&[]).unwrap_err().contains("no IMAGE_TAG"));
    }
}
