# Thin targets over scripts/: each one line, the scripts do the work.
.PHONY: install install-service run test check generate stack cluster drill drill-quick bench lint coherence

install:        ## install Python dependencies and the system components (apt, as root)
	scripts/install

install-service:  ## only what serving needs: the service and its model export (no tooling, no system packages)
	scripts/install-service

run: install-service  ## start the service on the embedded default (SQLite, in-process FAISS), port $$JM_PORT or 8766
	scripts/run

test: install   ## the whole suite, installing what it needs
	scripts/test

check: install  ## every validation of the stack as code: lint, generated files, rules, configs
	scripts/check

lint:
	scripts/lint

generate:       ## regenerate every generated file from its source
	scripts/generate

stack: install  ## start the service, Prometheus, Alertmanager and the alert receiver locally (scripts/stack down stops them)
	scripts/stack up

cluster: install ## start PostgreSQL, three replicas in cluster mode behind HAProxy, and the monitoring (scripts/cluster down stops them)
	scripts/cluster up

coherence: install ## the history checker's long form: fresh clusters under every nemesis, then embedded mode (minutes)
	scripts/coherence

drill-quick: install  ## the quick fire drill alone, as `make test` runs it (pytest -m drill)
	scripts/test -m drill

drill: install  ## fire drills: inject each fault into the native stack, check the page arrives and resolves
	scripts/drill

bench: install  ## smoke-sized benchmarks (JSON and a latency-vs-concurrency PNG in perf-results/); scripts/bench --full for all
	scripts/bench
