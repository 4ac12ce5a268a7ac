import Bundle
import Foundation
import Synchronization
import Invariance
import Kernels
import NN
import Training

/// The child process that runs one job for the daemon (`augerino job-child`, started by
/// `ConfinedJob`): it reads its `JobSpec` from standard input, confines itself
/// (`JobConfinement`), then unpacks, validates and trains the bundle, with a checkpoint after
/// every epoch, and writes the result's files into the work folder. It tells the daemon what it
/// does as `JobEvent` lines on the descriptor that was its standard output (standard output
/// itself then goes to /dev/null, so nothing else printed can be mistaken for an event). It
/// never touches the queue, the spool or the outbox. SIGTERM: it stops at the next batch.
public enum JobChild {
    /// Runs the job; returns the exit status (0 whenever a final event was sent).
    public static func run() -> Int32 {
        let events = EventWriter()
        guard let spec = readSpec() else {
            events.send(JobEvent(.failed, stage: "start", message: "the job's description on standard input could not be read", fault: JobFault.machine.rawValue))
            return 2
        }
        for missing in JobConfinement.apply(spec.confinement, parent: getppid()) {
            events.send(JobEvent(.log, level: "notice", message: "job \(spec.job): confinement incomplete: \(missing)"))
        }
        let stop = StopRequest()
        var stage = "extract"
        do {
            try runJob(spec, events: events, stop: stop, stage: &stage)
            events.send(JobEvent(.done))
        } catch is StopRequest.Stopped {
            events.send(JobEvent(.stopped, stage: stage))
        } catch {
            // Name files inside the bundle by the bundle, not by the folder they were unpacked to.
            let message = "\(error)".replacingOccurrences(of: spec.bundleFolder.path + "/", with: "\(spec.fileName): ")
            if message.contains(String(cString: strerror(EFBIG))), spec.confinement.fileSize > 0 {
                // The file-size limit (the writing thread blocks SIGXFSZ, so the write fails with EFBIG instead).
                let hint = "raise file_size_limit or [bundle] max_member_size in daemon.conf"
                events.send(JobEvent(.failed, stage: stage, message: "\(spec.fileName): the job tried to write a file larger than its \(byteSize(spec.confinement.fileSize)) limit while \(stage) (rule: [job] file_size_limit; \(message)); hint: \(hint)",
                                     fault: JobFault.process.rawValue, hint: hint))
            } else {
                events.send(JobEvent(.failed, stage: stage, message: message, fault: JobFault.of(error).rawValue,
                                     hint: (error as? LocalizedError)?.recoverySuggestion))
            }
        }
        return 0
    }

    /// The spec: at most 1 MiB of JSON on standard input.
    static func readSpec() -> JobSpec? {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while data.count <= 1 << 20 {
            let n = read(0, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            data.append(contentsOf: buffer[0..<n])
        }
        return try? JSONDecoder().decode(JobSpec.self, from: data)
    }

    private static func runJob(_ spec: JobSpec, events: EventWriter, stop: StopRequest, stage: inout String) throws {
        events.send(JobEvent(.stage, stage: "extract", detail: spec.fileName))
        let root = try BundleArchive.extract(URL(fileURLWithPath: spec.bundlePath), into: spec.bundleFolder,
                                             limits: spec.bundleLimits.bundleLimits, displayName: spec.fileName)
        stage = "validate"
        let dataset = try DatasetFolder.load(root, limits: spec.bundleLimits.bundleLimits, displayName: spec.fileName) { member in
            events.send(JobEvent(.stage, stage: "validate", detail: String(member)))
        }
        stage = "train"
        events.send(JobEvent(.stage, stage: "train"))
        let parallelism = Parallelism(threads: spec.threads)
        let checkpointURL = URL(fileURLWithPath: spec.checkpointPath)
        var run = try TrainingRun(dataset: dataset, defaults: spec.training)
        if let resume = spec.resumePath.map(URL.init(fileURLWithPath:)), FileManager.default.fileExists(atPath: resume.path) {
            do {
                try run.resume(from: TrainingCheckpoint.read(from: resume), source: resume.path)
                events.send(JobEvent(.log, level: "info", message: "job \(spec.job): resuming after epoch \(run.epochsDone) of \(run.plannedEpochs) from \(resume.path)"))
            } catch let error as NNError {
                if case .io = error { throw error }
                events.send(JobEvent(.log, level: "warning", message: "job \(spec.job): the checkpoint does not fit this run (\(error)); starting from the beginning"))
                try? FileManager.default.removeItem(at: resume)
                run = try TrainingRun(dataset: dataset, defaults: spec.training)
            }
        }
        events.send(JobEvent(.log, level: "info", message: "job \(spec.job): \(run.summary), \(parallelism)"))
        let attemptStart = Date()
        var batchesThisAttempt = 0
        var readingSince: Date?, readingSeconds = 0.0
        var lastProgress = Date.distantPast, lastLine = Date()
        var lastMetrics: [String: Double] = [:]
        let result: TrainingResult = try TensorContext.with(parallelism) {
            while !run.isFinished {
                let epoch = run.epochsDone + 1
                let record = try run.trainNextEpoch { done, total in
                    try stop.check()
                    let now = Date()
                    if done == 0 {
                        // The spread objective reads the widths first (batch 0 of the first
                        // epoch): no pace to learn from, so no ETA; its time stays out of the pace.
                        if readingSince == nil {
                            readingSince = now
                            events.send(JobEvent(.log, level: "info", message: "job \(spec.job): reading how far each class's images vary (the spread objective)"))
                        }
                        readingSeconds = now.timeIntervalSince(readingSince!)
                        if now.timeIntervalSince(lastProgress) >= 1 {
                            lastProgress = now
                            events.send(JobEvent(.progress, progress: JobProgress(epoch: epoch, epochs: run.plannedEpochs, batch: 0, batches: total,
                                                                                 etaSeconds: nil, metrics: lastMetrics)))
                        }
                        if now.timeIntervalSince(lastLine) >= 60 {
                            lastLine = now
                            events.send(JobEvent(.log, level: "info", message: "job \(spec.job): still reading the spread, \(Int(readingSeconds.rounded())) s so far"))
                        }
                        return
                    }
                    batchesThisAttempt += 1
                    if now.timeIntervalSince(lastProgress) >= 1 || done == total {
                        lastProgress = now
                        let left = (run.plannedEpochs - epoch) * total + (total - done)
                        let pace = (now.timeIntervalSince(attemptStart) - readingSeconds) / Double(batchesThisAttempt)
                        events.send(JobEvent(.progress, progress: JobProgress(epoch: epoch, epochs: run.plannedEpochs, batch: done, batches: total,
                                                                             etaSeconds: pace * Double(left), metrics: lastMetrics)))
                        // Long epochs: a log line at least every minute, not only at their end.
                        if now.timeIntervalSince(lastLine) >= 60 && done < total {
                            lastLine = now
                            events.send(JobEvent(.log, level: "info", message: "job \(spec.job): epoch \(epoch)/\(run.plannedEpochs), batch \(done)/\(total), about \(Int((pace * Double(left)).rounded())) s left"))
                        }
                    }
                }
                try run.checkpoint().write(to: checkpointURL)
                lastLine = Date()
                lastMetrics = ["train_loss": record.trainLoss, "train_metric": record.trainMetric]
                if let test = record.testMetric { lastMetrics["test_metric"] = test }
                for (name, theta) in record.theta { lastMetrics["theta_\(name)"] = Double(theta) }
                let widths = naturalWidthsText(record.theta, height: run.train.height, width: run.train.width)
                events.send(JobEvent(.epoch, message: "job \(spec.job): epoch \(record.epoch)/\(run.plannedEpochs): loss \(String(format: "%.4f", record.trainLoss))"
                                     + (record.testMetric.map { String(format: ", test %.4f", $0) } ?? "") + (widths.isEmpty ? "" : "; widths: \(widths)"),
                                     progress: JobProgress(epoch: record.epoch, epochs: run.plannedEpochs, batch: 1, batches: 1, etaSeconds: nil, metrics: lastMetrics)))
                if let settled = run.settled, settled.epoch == record.epoch {
                    events.send(JobEvent(.log, level: "info", message: "job \(spec.job): the answer \(settled.description(budget: run.settings.epochs)); it ends after epoch \(run.plannedEpochs)"))
                }
            }
            try stop.check()
            stage = "finish"
            let phase = "final evaluation and probes"
            events.send(JobEvent(.stage, stage: "finish", detail: phase))
            // Progress for `status` every second, and a log line every 30 s: it can take minutes.
            let finishStart = Date()
            var (lastEvent, lastFinishLine) = (Date.distantPast, Date())
            return run.finish(threads: parallelism.threads, provenance: ["bundle": spec.fileName, "bundle_sha256": spec.sha256]) { done, total in
                let now = Date()
                guard now.timeIntervalSince(lastEvent) >= 1 || done == total else { return }
                lastEvent = now
                let eta = done > 0 ? now.timeIntervalSince(finishStart) * Double(total - done) / Double(done) : nil
                let progress = JobProgress(epoch: run.plannedEpochs, epochs: run.plannedEpochs, batch: done, batches: total,
                                           etaSeconds: eta, metrics: lastMetrics, phase: phase)
                events.send(JobEvent(.progress, progress: progress))
                if now.timeIntervalSince(lastFinishLine) >= 30 {
                    lastFinishLine = now
                    events.send(JobEvent(.log, level: "info", message: "job \(spec.job): \(phase): \(Int(progress.fraction * 100))%"
                                         + (eta.map { ", about \(Int($0.rounded())) s left" } ?? "")))
                }
            }
        }
        try FileManager.default.createDirectory(at: spec.resultFolder, withIntermediateDirectories: true)
        try result.write(into: spec.resultFolder)
        let manifest = root.appendingPathComponent("manifest.json")
        if FileManager.default.fileExists(atPath: manifest.path) {
            try AtomicFileCopy.copy(manifest, to: spec.resultFolder.appendingPathComponent("manifest.json"))
        }
    }

    /// Events, one JSON line each, on the descriptor that was standard output.
    final class EventWriter: Sendable {
        private let fd: Int32
        /// Whole lines only: writers take turns.
        private let lock = Mutex(())

        init() {
            fd = dup(1)
            let null = open("/dev/null", O_WRONLY)
            if null >= 0 {
                dup2(null, 1)
                close(null)
            }
        }

        func send(_ event: JobEvent) {
            let line = event.line
            lock.withLock { _ in
                line.withUnsafeBytes { raw in
                    var written = 0
                    while written < raw.count {
                        let n = write(fd, raw.baseAddress! + written, raw.count - written)
                        if n < 0 && errno == EINTR { continue }
                        if n <= 0 { return }  // the daemon is gone; PR_SET_PDEATHSIG ends us
                        written += n
                    }
                }
            }
        }
    }

    /// SIGTERM, seen at the next batch.
    /// Unchecked only for `source`, which Dispatch does not mark `Sendable`: it is set in `init`
    /// and never touched again (kept to keep the handler alive); the flag is atomic.
    final class StopRequest: @unchecked Sendable {
        struct Stopped: Error {}
        private let source: DispatchSourceSignal
        private let requested = Atomic<Bool>(false)

        init() {
            signal(SIGTERM, SIG_IGN)
            source = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
            source.setEventHandler { [weak self] in self?.requested.store(true, ordering: .releasing) }
            source.resume()
        }

        func check() throws {
            if requested.load(ordering: .acquiring) { throw Stopped() }
        }
    }
}
