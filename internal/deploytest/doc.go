// Package deploytest checks the deployment files no container engine runs here: the
// Dockerfile (parsed with BuildKit's parser), compose.yaml (loaded and validated with
// compose-go, the loader docker compose uses) and infra/kubernetes (rendered with kustomize's
// Go API, decoded into the Kubernetes API types). Every service that `souk services` lists
// must be deployed with probes, resources, a non-root user and its own NATS user in each of
// them; the tests also break the files on purpose and expect the checks to notice.
package deploytest
