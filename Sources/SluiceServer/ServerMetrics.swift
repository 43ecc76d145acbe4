import Foundation
import Prometheus
import SluiceCore
import SluiceWorkers

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
            namespace: "sluice", metricName: "jobs_completed", unitName: "total",
            helpText: "Jobs completed by this process.")
    }
    private static var failed: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "sluice", metricName: "job_attempts_failed", unitName: "total",
            helpText: "Job attempts that failed in this process (retried or final).")
    }
    private static var duration: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "sluice", metricName: "job_duration", unitName: "seconds",
            helpText: "Time from claim to outcome of the job attempts this process ran.")
    }
    private static var depth: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "sluice", metricName: "queue_jobs", unitName: "",
            helpText: "Jobs in the queue by type and state.")
    }
    private static var oldestPending: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "sluice", metricName: "queue_oldest_pending_age", unitName: "seconds",
            helpText: "Age of the oldest PENDING job; 0 when there is none.")
    }

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
    }

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
        for type in Set(stats.byType.keys).union(JobType.builtIn) {
            let counts = stats.byType[type] ?? StatusCounts()
            for status in JobStatus.allCases {
                registry.makeGauge(
                    descriptor: Self.depth, labels: [("job_type", type.rawValue), ("status", status.rawValue)]
                ).set(Double(counts[status]))
            }
        }
        let oldest = try await queue.oldestPendingJob()
        registry.makeGauge(descriptor: Self.oldestPending).set(
            oldest.map { max(0, now.timeIntervalSince($0.createdAt)) } ?? 0)
        return registry.emitToString()
    }
}
