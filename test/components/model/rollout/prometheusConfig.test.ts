import assert from "node:assert/strict";
import YAML from "yaml";
import {
    instancePrometheusArgv,
    prometheusDevice,
    partsSweepArgv,
    prometheusLayout,
    prometheusListenAddress,
    prometheusServerUrl,
    renderPrometheusConfig,
    renderTargets,
    ssdArgv,
} from "../../../../components/model/rollout/prometheusConfig";

const layout = prometheusLayout("/var/lib/bluegreen/dev/prometheus/");

describe("prometheusConfig", () => {
    it("lays every file out under the one directory", () => {
        assert.deepEqual(layout, {
            dir: "/var/lib/bluegreen/dev/prometheus",
            configFile: "/var/lib/bluegreen/dev/prometheus/prometheus.yml",
            dataDir: "/var/lib/bluegreen/dev/prometheus/data",
            targetsDir: "/var/lib/bluegreen/dev/prometheus/targets",
            targetsFile: "/var/lib/bluegreen/dev/prometheus/targets/bluegreen.json",
            pidFile: "/var/lib/bluegreen/dev/prometheus/prometheus.pid",
            logFile: "/var/lib/bluegreen/dev/prometheus/prometheus.log",
        });
    });

    it("renders the scrape interval, a file_sd job for the app and a static job for HAProxy's exporter", () => {
        const cfg = YAML.parse(renderPrometheusConfig({ layout, scrapeIntervalSeconds: 15, haproxyExporterPort: 18101 }));
        assert.deepEqual(cfg, {
            global: { scrape_interval: "15s", scrape_timeout: "10s", evaluation_interval: "15s" },
            scrape_configs: [
                {
                    job_name: "bluegreen-app",
                    metrics_path: "/metrics",
                    file_sd_configs: [{ files: ["/var/lib/bluegreen/dev/prometheus/targets/*.json"], refresh_interval: "5s" }],
                },
                { job_name: "bluegreen-haproxy", metrics_path: "/metrics", static_configs: [{ targets: ["127.0.0.1:18101"] }] },
            ],
        });
    });

    it("keeps the scrape timeout within a short interval (Prometheus refuses a longer one)", () => {
        const cfg = YAML.parse(renderPrometheusConfig({ layout, scrapeIntervalSeconds: 1, haproxyExporterPort: 18101 }));
        assert.equal(cfg.global.scrape_timeout, "1s");
    });

    it("renders file_sd targets on loopback with component, color and node labels, sorted", () => {
        const json = renderTargets([
            { component: "web", color: "green", node: 1, port: 18131 },
            { component: "backend", color: "blue", node: "2", port: 18110 },
        ]);
        assert.deepEqual(JSON.parse(json), [
            { targets: ["127.0.0.1:18110"], labels: { component: "backend", color: "blue", node: "2" } },
            { targets: ["127.0.0.1:18131"], labels: { component: "web", color: "green", node: "1" } },
        ]);
        assert.equal(renderTargets([]), "[]\n");
    });

    it("refuses two targets on one port", () => {
        assert.throws(
            () =>
                renderTargets([
                    { component: "a", color: "blue", node: 1, port: 18110 },
                    { component: "b", color: "blue", node: 1, port: 18110 },
                ]),
            /scrape targets a\/blue\/node 1 and b\/blue\/node 1 share port 18110/,
        );
    });

    describe("in the HAProxy instance (prometheus.placement: incus)", () => {
        const DIR = "/opt/bluegreen/prometheus";
        const BIN = `${DIR}/bin/prometheus`;
        const MATCH = ["--pidfile", `${DIR}/prometheus.pid`, "--exec", BIN];

        it("is reached through a proxy device from the host's loopback to the instance's", () => {
            assert.equal(prometheusListenAddress(19090), "127.0.0.1:19090");
            assert.equal(prometheusServerUrl(19090), "http://127.0.0.1:19090");
            assert.deepEqual(prometheusDevice(19090), { type: "proxy", listen: "tcp:127.0.0.1:19090", connect: "tcp:127.0.0.1:19090" });
        });

        it("with a remote, listens on the remote's address (the runner reaches it there), still connecting to the instance's loopback", () => {
            assert.equal(prometheusListenAddress(19090, "10.77.0.11"), "10.77.0.11:19090");
            assert.equal(prometheusServerUrl(19090, "10.77.0.11"), "http://10.77.0.11:19090");
            assert.deepEqual(prometheusDevice(19090, "10.77.0.11"), { type: "proxy", listen: "tcp:10.77.0.11:19090", connect: "tcp:127.0.0.1:19090" });
        });

        it("runs the pushed binary on the instance's loopback, everything under its dir, without the lifecycle API", () => {
            assert.deepEqual(instancePrometheusArgv(19090), [
                BIN,
                "--config.file",
                `${DIR}/prometheus.yml`,
                "--storage.tsdb.path",
                `${DIR}/data`,
                "--web.listen-address",
                "127.0.0.1:19090",
            ]);
        });

        it("is started, checked, reloaded and stopped by start-stop-daemon, matched by pid file and executable", () => {
            assert.deepEqual(ssdArgv("start", 19090), [
                "start-stop-daemon",
                "--start",
                "--background",
                "--make-pidfile",
                ...MATCH,
                "--chdir",
                DIR,
                "--output",
                `${DIR}/prometheus.log`,
                "--",
                ...instancePrometheusArgv(19090).slice(1),
            ]);
            assert.deepEqual(ssdArgv("status"), ["start-stop-daemon", "--status", ...MATCH]);
            assert.deepEqual(ssdArgv("reload"), ["start-stop-daemon", "--stop", "--signal", "HUP", ...MATCH]);
            assert.deepEqual(partsSweepArgv(), ["find", "/opt/bluegreen", "-maxdepth", "3", "-path", `${DIR}/bin/.*.part`, "-delete"]);
            assert.deepEqual(ssdArgv("stop"), ["start-stop-daemon", "--stop", "--oknodo", "--retry", "TERM/10/KILL/2", "--remove-pidfile", ...MATCH]);
        });
    });
});
