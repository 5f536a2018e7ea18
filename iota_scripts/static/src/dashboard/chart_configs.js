import { _t } from "@web/core/l10n/translation";

/**
 * Chart.js configurations built from `iota.script.execution.get_dashboard_data`.
 * Pure functions: data in, config out (no DOM, no Chart global).
 */

const STATE_COLORS = {
    queued: "#9ca3af",
    running: "#3b82f6",
    succeeded: "#22c55e",
    failed: "#ef4444",
    timed_out: "#f97316",
    cancelled: "#a855f7",
    dead: "#7f1d1d",
};

const BASE_OPTIONS = {
    // no animation: charts are final at once (and tours measure them)
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    plugins: { legend: { position: "bottom" } },
};

function shortName(name) {
    return name.length > 24 ? `${name.slice(0, 23)}…` : name;
}

/** Runs per bucket, stacked by state (states with no run are left out). */
export function runsByStateConfig(data) {
    const datasets = data.states
        .filter(([key]) => data.runs_by_state[key].some((count) => count))
        .map(([key, label]) => ({
            label,
            data: data.runs_by_state[key],
            backgroundColor: STATE_COLORS[key] || "#6b7280",
            stack: "runs",
        }));
    return {
        type: "bar",
        data: { labels: data.buckets, datasets },
        options: {
            ...BASE_OPTIONS,
            scales: {
                x: { stacked: true },
                y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } },
            },
        },
    };
}

/** Error rate per bucket, in percent (gaps where nothing finished). */
export function errorRateConfig(data) {
    return {
        type: "line",
        data: {
            labels: data.buckets,
            datasets: [
                {
                    label: _t("Error rate (%)"),
                    data: data.error_rate,
                    borderColor: STATE_COLORS.failed,
                    backgroundColor: STATE_COLORS.failed,
                    // no line across buckets where nothing finished
                    spanGaps: false,
                    pointRadius: 4,
                    tension: 0.2,
                },
            ],
        },
        options: { ...BASE_OPTIONS, scales: { y: { beginAtZero: true, suggestedMax: 100 } } },
    };
}

/** p50 and p95 wall time per script, in ms. */
export function durationConfig(data) {
    return {
        type: "bar",
        data: {
            labels: data.scripts.map((s) => shortName(s.name)),
            datasets: [
                { label: _t("p50 (ms)"), data: data.scripts.map((s) => s.wall_ms_p50), backgroundColor: "#60a5fa" },
                { label: _t("p95 (ms)"), data: data.scripts.map((s) => s.wall_ms_p95), backgroundColor: "#1d4ed8" },
            ],
        },
        options: { ...BASE_OPTIONS, scales: { y: { beginAtZero: true } } },
    };
}

/** CPU time (ms, left axis) and peak heap (MB, right axis) per script. */
export function resourcesConfig(data) {
    const mb = (bytes) => (bytes === null ? null : Math.round((bytes / 1048576) * 100) / 100);
    return {
        type: "bar",
        data: {
            labels: data.scripts.map((s) => shortName(s.name)),
            datasets: [
                { label: _t("CPU p50 (ms)"), data: data.scripts.map((s) => s.cpu_ms_p50), backgroundColor: "#fbbf24", yAxisID: "y" },
                { label: _t("CPU p95 (ms)"), data: data.scripts.map((s) => s.cpu_ms_p95), backgroundColor: "#d97706", yAxisID: "y" },
                { label: _t("Heap p50 (MB)"), data: data.scripts.map((s) => mb(s.heap_bytes_p50)), backgroundColor: "#a78bfa", yAxisID: "y1" },
                { label: _t("Heap p95 (MB)"), data: data.scripts.map((s) => mb(s.heap_bytes_p95)), backgroundColor: "#6d28d9", yAxisID: "y1" },
            ],
        },
        options: {
            ...BASE_OPTIONS,
            scales: {
                y: { beginAtZero: true, position: "left", title: { display: true, text: "ms" } },
                y1: {
                    beginAtZero: true,
                    position: "right",
                    grid: { drawOnChartArea: false },
                    title: { display: true, text: "MB" },
                },
            },
        },
    };
}

/** The charts of the dashboard, by the name of their canvas. */
export const CHARTS = {
    runs: runsByStateConfig,
    errorRate: errorRateConfig,
    duration: durationConfig,
    resources: resourcesConfig,
};
