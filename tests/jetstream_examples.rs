//! The deployment examples for several replicas on NATS JetStream
//! (`examples/kubernetes/replicas/`, `examples/compose/replicas/`): their
//! manifests say what the README promises, and the configs inside them pass
//! the same check `serve` runs, with the variables and Secrets of the pod
//! or container.

use std::collections::HashMap;

fn repo(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn yaml_documents(path: &std::path::Path) -> Vec<serde_yaml::Value> {
    use serde::Deserialize;
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde_yaml::Value::deserialize(d).unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display())))
        .filter(|v| !v.is_null())
        .collect()
}

/// `${VAR}` from a map and `${file:PATH}` from mounted Secrets, as a pod
/// or container would resolve them.
struct PodEnv {
    vars: HashMap<String, String>,
    files: HashMap<String, Vec<u8>>,
}

impl hookroute::config::interpolate::Environment for PodEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    fn read_file(&self, path: &str) -> std::io::Result<Vec<u8>> {
        self.files.get(path).cloned().ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, path.to_string()))
    }
}

fn check_config(name: &str, text: &str, env: &PodEnv) -> hookroute::settings::Loaded {
    let resources = hookroute::actions::Resources::new().unwrap();
    hookroute::settings::load_str(name, text, env, &resources).unwrap_or_else(|e| panic!("{name} does not check:\n{e}"))
}

#[test]
fn the_kubernetes_replicas_example_runs_three_replicas_on_a_three_node_nats() {
    let dir = repo("examples/kubernetes/replicas");
    let mut docs = Vec::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        files.push(path.file_name().unwrap().to_string_lossy().into_owned());
        docs.extend(yaml_documents(&path));
    }
    let of_kind = |kind: &str| docs.iter().filter(|d| d["kind"] == kind).cloned().collect::<Vec<_>>();
    let deployment = &of_kind("Deployment")[0];
    assert_eq!(deployment["spec"]["replicas"], 3);
    assert_eq!(deployment["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let pdbs = of_kind("PodDisruptionBudget");
    assert!(
        pdbs.iter().any(|p| &p["spec"]["selector"]["matchLabels"] == labels && p["spec"]["minAvailable"] == 2),
        "a PodDisruptionBudget keeps two replicas: {pdbs:?}"
    );
    let nats = &of_kind("StatefulSet")[0];
    assert_eq!(nats["spec"]["replicas"], 3);
    let nats_conf =
        of_kind("ConfigMap").iter().find_map(|c| c["data"]["nats.conf"].as_str().map(str::to_string)).unwrap();
    assert!(nats_conf.contains("jetstream") && nats_conf.contains("cluster"), "{nats_conf}");

    // The ConfigMap's routes.yaml checks with the pod's variables and the
    // Secret's keys, and puts the queue on NATS with R3.
    let secret = yaml_documents(&dir.join("secret.example.yaml")).remove(0);
    let mut secret_files = HashMap::new();
    for (key, value) in secret["stringData"].as_mapping().unwrap() {
        let path = format!("/run/secrets/hookroute/{}", key.as_str().unwrap());
        secret_files.insert(path, value.as_str().unwrap().as_bytes().to_vec());
    }
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let vars = container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e["value"].as_str().unwrap_or("").to_string()))
        .collect();
    let text = of_kind("ConfigMap").iter().find_map(|c| c["data"]["routes.yaml"].as_str().map(str::to_string)).unwrap();
    let loaded = check_config("replicas configmap", &text, &PodEnv { vars, files: secret_files });
    let store = loaded.settings.delivery.jetstream.as_ref().expect("store: jetstream");
    assert_eq!((store.replicas, store.servers.len()), (3, 3));
    assert!(container["volumeMounts"].as_sequence().unwrap().iter().all(|m| m["name"] != "data"), "no queue volume");

    // kustomize applies everything but the Secret.
    let kustomization = &of_kind("Kustomization")[0];
    let resources: Vec<&str> =
        kustomization["resources"].as_sequence().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    for name in &files {
        let meant = name != "kustomization.yaml" && name != "secret.example.yaml";
        assert_eq!(resources.contains(&name.as_str()), meant, "{name} in kustomization.yaml's resources");
    }
}

#[test]
fn the_compose_replicas_example_runs_two_replicas_on_a_three_node_nats() {
    let dir = repo("examples/compose/replicas");
    let compose = &yaml_documents(&dir.join("docker-compose.yml"))[0];
    let services = compose["services"].as_mapping().unwrap();
    let names: Vec<&str> = services.keys().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(names.iter().filter(|n| n.starts_with("hookroute")).count(), 2, "{names:?}");
    assert_eq!(names.iter().filter(|n| n.starts_with("nats")).count(), 3, "{names:?}");
    let router = &compose["services"]["hookroute-1"];
    let vars = router["environment"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_string(), v.as_str().unwrap_or("").to_string()))
        .collect();
    let text = std::fs::read_to_string(dir.join("routes.yaml")).unwrap();
    let loaded = check_config("compose replicas routes.yaml", &text, &PodEnv { vars, files: HashMap::new() });
    let store = loaded.settings.delivery.jetstream.as_ref().expect("store: jetstream");
    assert_eq!((store.replicas, store.servers.len()), (3, 3));
    for node in ["nats-0", "nats-1", "nats-2"] {
        let command = compose["services"][node]["command"].as_str().unwrap();
        assert!(command.contains("-js") && command.contains("--routes"), "{node}: {command}");
    }
}
