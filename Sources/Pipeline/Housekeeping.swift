import Foundation
import Logging

/// Keeps what failures leave behind within the operator's limits (docs/configuration.md):
/// quarantined bundles older than `quarantine_retention` go, then the oldest ones while the
/// quarantine holds more than `quarantine_max_size`; outbox entries that hold only an
/// error.json go after `error_retention`. Results (a model) are never removed. Runs at start-up
/// and every minute on the inbox's queue.
struct Housekeeping {
    let state: StateDirectory
    let outbox: Outbox
    let configuration: DaemonConfiguration
    let logger: Logger

    func run(now: Date = Date()) {
        trimQuarantine(now: now)
        expireErrorResults(now: now)
    }

    /// A quarantined bundle: its name, size and when it was put there (the rename into
    /// quarantine sets the change time).
    struct Quarantined { let name: String, bytes: Int, since: Date }

    func quarantined() -> [Quarantined] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: state.quarantine.path) else { return [] }
        return names.compactMap { name in
            var info = stat()
            guard !name.hasPrefix("."), lstat(state.quarantine.appendingPathComponent(name).path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
            return Quarantined(name: name, bytes: Int(info.st_size), since: Date(timeIntervalSince1970: Double(info.st_ctim.tv_sec)))
        }.sorted { $0.since < $1.since || ($0.since == $1.since && $0.name < $1.name) }
    }

    func trimQuarantine(now: Date) {
        var kept = quarantined()
        if configuration.quarantineRetention > 0 {
            let cutoff = now - configuration.quarantineRetention
            for bundle in kept where bundle.since < cutoff {
                remove(bundle, because: "kept longer than quarantine_retention = \(Int(configuration.quarantineRetention)) s")
            }
            kept.removeAll { $0.since < cutoff }
        }
        guard configuration.quarantineMaxSize > 0 else { return }
        var total = kept.reduce(0) { $0 + $1.bytes }
        for bundle in kept where total > configuration.quarantineMaxSize {
            remove(bundle, because: "the quarantine held \(total) bytes, more than quarantine_max_size = \(configuration.quarantineMaxSize)")
            total -= bundle.bytes
        }
    }

    private func remove(_ bundle: Quarantined, because reason: String) {
        if unlink(state.quarantine.appendingPathComponent(bundle.name).path) == 0 {
            logger.notice("removed quarantined bundle \(bundle.name) (\(bundle.bytes) bytes): \(reason); `augerino retry` of its job now asks for the bundle to be dropped again")
        }
    }

    func expireErrorResults(now: Date) {
        guard configuration.errorRetention > 0,
              let names = try? FileManager.default.contentsOfDirectory(atPath: outbox.folder.path) else { return }
        let cutoff = now - configuration.errorRetention
        for name in names.sorted() where !name.hasPrefix(".") {
            let entry = outbox.folder.appendingPathComponent(name)
            var info = stat()
            guard outbox.errorReport(name)?["schema"] as? String == "augerino.error/1",
                  !FileManager.default.fileExists(atPath: entry.appendingPathComponent("model.safetensors").path),
                  lstat(entry.appendingPathComponent("error.json").path, &info) == 0,
                  Date(timeIntervalSince1970: Double(info.st_mtim.tv_sec)) < cutoff else { continue }
            if outbox.remove(name) {
                logger.notice("removed outbox/\(name): an error result older than error_retention = \(Int(configuration.errorRetention)) s")
            }
        }
    }
}
