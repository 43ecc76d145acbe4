import CoreMetrics
import Foundation
import Prometheus
import SluiceCore
import SluicePipeline
import SluiceWorkers
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Prometheus metrics: counters and a duration histogram fed by the job runner, and queue gauges read from the
/// database when `/metrics` is scraped. Each server has its own registry (no global bootstrap), so tests can
/// make as many as they like.
public final class ServerMetrics: JobMetrics, Sendable {
    public let registry: PrometheusCollectorRegistry
    private static let durationBuckets: [Duration] = [
        .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(300),
    ]

    // Computed, not stored: swift-prometheus's MetricNameDescriptor is not Sendable.
    private static var completed: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "sluice",
            metricName: "jobs_completed",
            unitName: "total",
            helpText: "Jobs completed by this process."
        )
    }
    private static var failed: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "sluice",
            metricName: "job_attempts_failed",
            unitName: "total",
            helpText: "Job attempts that failed in this process (retried or final)."
        )
    }
    private static var duration: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "sluice",
            metricName: "job_duration",
            unitName: "seconds",
            helpText: "Time from claim to outcome of the job attempts this process ran."
        )
    }
    private static var depth: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "sluice",
            metricName: "queue_jobs",
            unitName: "",
            helpText: "Jobs in the queue by type and state."
        )
    }
    private static var oldestPending: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "sluice",
            metricName: "queue_oldest_pending_age",
            unitName: "seconds",
            helpText: "Age of the oldest PENDING job; 0 when there is none."
        )
    }

    /// CPU seconds already added to `process_cpu_seconds_total`, so that each scrape adds what was used since.
    private let cpuSecondsCounted = Mutex<Double>(0)

    /// Registers every job counter and histogram at zero for the built-in job types (and `jobTypes`), so that the
    /// first scrape already shows them and `rate()` and alerts have a series from the start.
    public init(
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        jobTypes: [JobType] = PipelineJobs.types
    ) {
        self.registry = registry
        for type in Set(jobTypes).union(PipelineJobs.types) {
            let labels = [("job_type", type.rawValue)]
            _ = registry.makeCounter(descriptor: Self.completed, labels: labels)
            _ = registry.makeCounter(descriptor: Self.failed, labels: labels)
            _ = registry.makeDurationHistogram(descriptor: Self.duration, labels: labels, buckets: Self.durationBuckets)
        }
    }

    /// Sends swift-metrics (what Hummingbird's `MetricsMiddleware` records HTTP requests with) to this registry.
    /// swift-metrics has one backend per process: call it once, from the process that serves.
    public func bootstrapSwiftMetrics() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5),
            .seconds(10),
        ]
        factory.nameAndLabelSanitizer = { name, labels in
            (Self.httpMetricNames[name] ?? name, labels.map { (Self.httpLabelNames[$0.0] ?? $0.0, $0.1) })
        }
        MetricsSystem.bootstrap(factory)
    }

    /// Hummingbird's metric names as Prometheus names them (`_total` counters, `_seconds` durations).
    private static let httpMetricNames = [
        "hb.requests": "sluice_http_requests_total",
        "hb.request.errors": "sluice_http_request_errors_total",
        "http.server.request.duration": "sluice_http_request_duration_seconds",
        "http.server.active_requests": "sluice_http_active_requests",
    ]
    private static let httpLabelNames = [
        "http.route": "route", "http.request.method": "method", "http.response.status_code": "status",
        "error.type": "status",
    ]

    public func attemptFinished(type: JobType, outcome: JobRunner.Outcome, duration: Duration) {
        let labels = [("job_type", type.rawValue)]
        switch outcome {
        case .completed:
            registry.makeCounter(descriptor: Self.completed, labels: labels).increment()
        case .failed:
            registry.makeCounter(descriptor: Self.failed, labels: labels).increment()
        case .released, .deferred, .leaseLost, .unrecorded:
            return
        }
        registry.makeDurationHistogram(descriptor: Self.duration, labels: labels, buckets: Self.durationBuckets)
            .record(duration)
    }

    /// Refreshes the queue gauges from the database, then renders every metric in Prometheus text format.
    func exposition(queue: DatabaseQueue, now: Date) async throws -> String {
        let stats = try await queue.getQueueStats()
        for type in Set(stats.byType.keys).union(PipelineJobs.types) {
            let counts = stats.byType[type] ?? StatusCounts()
            for status in JobStatus.allCases {
                registry.makeGauge(
                    descriptor: Self.depth,
                    labels: [("job_type", type.rawValue), ("status", status.rawValue)]
                ).set(Double(counts[status]))
            }
        }
        let oldest = try await queue.oldestPendingJob()
        registry.makeGauge(descriptor: Self.oldestPending).set(
            oldest.map { max(0, now.timeIntervalSince($0.createdAt)) } ?? 0
        )
        recordProcess()
        return registry.emitToString()
    }

    /// The process metrics Prometheus's own clients export, under their usual names: resident memory, CPU
    /// seconds, open and allowed file descriptors, start time. Read from `/proc` (Linux); left out elsewhere.
    private func recordProcess() {
        guard let process = ProcessStatus.read() else { return }
        registry.makeGauge(name: "process_resident_memory_bytes", help: "Resident memory size in bytes.")
            .set(Double(process.residentBytes))
        registry.makeGauge(name: "process_open_fds", help: "Number of open file descriptors.")
            .set(Double(process.openDescriptors))
        registry.makeGauge(name: "process_max_fds", help: "Maximum number of open file descriptors.")
            .set(Double(process.maxDescriptors))
        registry.makeGauge(name: "process_start_time_seconds", help: "Start time of the process since the epoch.")
            .set(process.startTime)
        let added = cpuSecondsCounted.withLock { counted -> Double in
            let delta = max(0, process.cpuSeconds - counted)
            counted += delta
            return delta
        }
        registry.makeCounter(name: "process_cpu_seconds_total", help: "Total user and system CPU time in seconds.")
            .increment(by: added)
    }
}

/// This process's resource use, from `/proc/self`.
struct ProcessStatus {
    var residentBytes: Int
    var cpuSeconds: Double
    var openDescriptors: Int
    var maxDescriptors: Int
    var startTime: Double

    static func read() -> ProcessStatus? {
        // /proc/self/stat: the fields after the command name (which is in parentheses and may hold spaces).
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is the state (field 3): utime is field 14, stime 15, starttime 22, rss 24 (in pages).
        guard fields.count > 21, let user = Double(fields[11]), let system = Double(fields[12]),
            let started = Double(fields[19]), let pages = Int(fields[21])
        else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
        var limit = rlimit()
        let maxDescriptors =
            getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 ? Int(limit.rlim_cur) : 0
        var bootTime = 0.0
        if let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("btime ") })
        {
            bootTime = Double(line.dropFirst("btime ".count)) ?? 0
        }
        return ProcessStatus(
            residentBytes: pages * pageSize,
            cpuSeconds: (user + system) / ticks,
            openDescriptors: descriptors,
            maxDescriptors: maxDescriptors,
            startTime: bootTime + started / ticks
        )
    }
}
