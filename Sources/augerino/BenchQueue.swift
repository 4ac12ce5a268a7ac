import ArgumentParser
import Bundle
import Foundation
import Pipeline
import Synchronization

/// `augerino bench queue`: how fast the job queue hands out work. Claims per second with 1, 4
/// and 16 claimers at once (each with a connection of its own, as daemons on many hosts
/// have), on the embedded SQLite queue and, given `--postgres`, on a PostgreSQL server; and the
/// latency from a bundle's drop into the inbox to its job running, through a real daemon.
struct BenchQueue: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Job queue claims per second (SQLite, PostgreSQL) and drop-to-running latency.",
        discussion: """
            SQLite runs in a temporary folder. For PostgreSQL give a server's URL as in daemon.conf's \
            [queue] url (password in AUGERINO_QUEUE_PASSWORD); the benchmark works in a scratch schema \
            of its own and removes it when done. Before timing, it checks that every job was claimed \
            exactly once.
            """)

    @Option(help: "A PostgreSQL URL (postgresql://USER@HOST[:PORT]/DATABASE) to measure as well.")
    var postgres: String?

    @Option(help: "Comma-separated numbers of concurrent claimers.")
    var claimers: String = "1,4,16"

    @Option(help: "Jobs queued before each claim measurement.")
    var jobs: Int = 2000

    @Option(help: "Bundles dropped one at a time for the drop-to-running latency (0: skip it).")
    var drops: Int = 10

    @Flag(help: "One JSON object per line instead of a table.")
    var json = false

    func validate() throws {
        guard parsedClaimers != nil else { throw ValidationError("--claimers \"\(claimers)\": expected comma-separated whole numbers from 1 to 64, such as 1,4,16") }
        guard (1...1_000_000).contains(jobs) else { throw ValidationError("--jobs \(jobs): must be from 1 to 1000000") }
        guard (0...1000).contains(drops) else { throw ValidationError("--drops \(drops): must be from 0 to 1000") }
        if postgres != nil, !PostgresQueueSettings.isBuilt { throw ValidationError("--postgres \(PostgresQueueSettings.notBuilt)") }
        if let postgres, case .failure(let broken) = PostgresQueueSettings.parse(url: postgres) { throw ValidationError("--postgres: \(broken.rule)") }
    }

    var parsedClaimers: [Int]? { commaSeparatedWholeNumbers(claimers, in: 1...64) }

    /// A queue backend to measure: how to open a fresh queue, a second connection to it, and
    /// how to remove it.
    struct Backend {
        let name: String
        let open: () throws -> (queue: any JobQueue, reopen: () throws -> any JobQueue, remove: () -> Void)
    }

    func run() throws {
        var backends = [Backend(name: "sqlite", open: {
            let folder = try makeBenchFolder("queue")
            let path = folder.appendingPathComponent("queue.sqlite").path
            return (try SQLiteJobQueue(path: path), { try SQLiteJobQueue(path: path) }, { try? FileManager.default.removeItem(at: folder) })
        })]
        #if PostgreSQL
        if let postgres, case .success(var settings) = PostgresQueueSettings.parse(url: postgres) {
            settings.password = ProcessInfo.processInfo.environment["AUGERINO_QUEUE_PASSWORD"]
            let base = settings
            backends.append(Backend(name: "postgresql", open: {
                var scratch = base
                scratch.schema = "augerino_bench_\(UUID().uuidString.prefix(8).lowercased())"
                let queue = try PostgresJobQueue(scratch)
                return (queue, { try PostgresJobQueue(scratch) }, { try? queue.removeSchema() })
            }))
        }
        #endif
        if !json { print("job queue: \(jobs) jobs per measurement; claims per second with N claimers at once") }
        for backend in backends {
            for count in parsedClaimers ?? [] {
                let rate = try claimRate(backend, claimers: count)
                print(json ? BenchTiming.jsonLine([("bench", "queue-claims"), ("backend", backend.name), ("claimers", count), ("claims_per_second", rate)])
                           : backend.name.padding(toLength: 11, withPad: " ", startingAt: 0) + String(format: "%2d claimer(s)  %8.0f claims/s", count, rate))
            }
        }
        guard drops > 0 else { return }
        for backend in backends {
            let latencies = try dropToRunning(backend)
            let p50 = latencies[latencies.count / 2], p90 = latencies[min(latencies.count - 1, latencies.count * 9 / 10)]
            print(json ? BenchTiming.jsonLine([("bench", "queue-latency"), ("backend", backend.name), ("drops", latencies.count), ("p50_ms", p50 * 1000), ("p90_ms", p90 * 1000)])
                       : backend.name.padding(toLength: 11, withPad: " ", startingAt: 0) + String(format: "drop to running: median %.0f ms, p90 %.0f ms over %d drops", p50 * 1000, p90 * 1000, latencies.count))
        }
    }

    /// Claims per second: `jobs` queued, then `claimers` threads, each on its own connection,
    /// claim until the queue is empty. Every job must be claimed exactly once.
    func claimRate(_ backend: Backend, claimers: Int) throws -> Double {
        let (queue, reopen, remove) = try backend.open()
        defer { remove() }
        let now = Date()
        for index in 0..<jobs {
            _ = try queue.enqueue(name: "job\(index)", fileName: "job\(index).tar.gz", bundlePath: "/spool/job\(index)", sha256: "hash\(index)", now: now)
        }
        let connections = try (0..<claimers).map { _ in try reopen() }
        let claimed = Mutex<[Int64]>([]), failures = Mutex<[String]>([])
        let start = BenchTiming.now()
        DispatchQueue.concurrentPerform(iterations: claimers) { index in
            let holder = LeaseHolder(host: "bench-\(index)", duration: 3600)
            do {
                while let job = try connections[index].claimNext(now: now, holder: holder) { claimed.withLock { $0.append(job.id) } }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        let seconds = BenchTiming.now() - start
        if let failure = failures.withLock({ $0.first }) { throw ValidationError("\(backend.name): a claim failed: \(failure)") }
        let ids = claimed.withLock { $0 }
        guard ids.count == jobs, Set(ids).count == jobs else {
            throw ValidationError("\(backend.name): \(ids.count) claims of \(Set(ids).count) distinct jobs, for \(jobs) jobs: a job was claimed twice or not at all")
        }
        return Double(jobs) / seconds
    }

    /// Runs a daemon on a scratch folder with this backend's queue and drops tiny bundles one at
    /// a time (each after the previous is done): seconds from the rename into the inbox to the
    /// claim (the job's start, as the queue records it).
    func dropToRunning(_ backend: Backend) throws -> [Double] {
        let folder = try makeBenchFolder("latency")
        defer { try? FileManager.default.removeItem(at: folder) }
        let (probe, _, remove) = try backend.open()
        defer { remove() }
        var section = ""
        #if PostgreSQL
        if let queue = probe as? PostgresJobQueue, let url = postgres {
            // The scratch schema instead of any the URL names.
            let parts = url.split(separator: "?", maxSplits: 1)
            let parameters = (parts.count > 1 ? parts[1].split(separator: "&").filter { !$0.hasPrefix("schema=") }.map(String.init) : []) + ["schema=\(queue.settings.schema)"]
            section = "[queue]\nurl = \(parts[0])?\(parameters.joined(separator: "&"))\nhost_name = bench\n"
        }
        #endif
        try "inbox = inbox\noutbox = outbox\nstate = state\n[daemon]\nthreads = 1\nsettle_time = 0\n\(section)\n[training]\nprobe_images = 4\n"
            .write(to: folder.appendingPathComponent("daemon.conf"), atomically: true, encoding: .utf8)
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        daemon.arguments = ["daemon", "--config", folder.appendingPathComponent("daemon.conf").path]
        daemon.standardError = FileHandle(forWritingAtPath: "/dev/null")
        daemon.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try daemon.run()
        defer {
            daemon.terminate()
            daemon.waitUntilExit()
        }
        // SQLite: opened afresh for every look, as `augerino jobs` does (a reader opened before
        // the daemon's -wal file exists would read a copy).
        let read: () throws -> any JobQueue = probe is any SharedJobQueue ? { probe } : {
            try SQLiteJobQueue.openReadOnly(path: folder.appendingPathComponent("state/queue.sqlite").path)
        }
        let inbox = folder.appendingPathComponent("inbox")
        _ = try waitFor(seconds: 30) { FileManager.default.fileExists(atPath: inbox.path) ? true : nil }
        usleep(500_000)
        var latencies: [Double] = []
        for index in 0..<drops {
            let bundle = try Self.tinyBundle(seed: UInt64(index), in: folder)
            let name = "drop\(index).tar.gz"
            let dropped = Date()
            guard rename(bundle.path, inbox.appendingPathComponent(name).path) == 0 else { throw ValidationError("cannot drop \(name) into \(inbox.path)") }
            let job = try waitFor(seconds: 60) { try read().jobs(state: nil).first { $0.fileName == name && $0.state == .done } }
            latencies.append(try job.startedAt.map { $0.timeIntervalSince(dropped) } ?? { throw ValidationError("\(name): done without a start time") }())
        }
        return latencies.sorted()
    }

    /// Polls `body` every 10 ms until it returns a value, for at most `seconds`.
    func waitFor<T>(seconds: Double, _ body: () throws -> T?) throws -> T {
        let deadline = Date() + seconds
        while Date() < deadline {
            if let value = try? body() { return value }
            usleep(10_000)
        }
        throw ValidationError("the daemon did not get there within \(Int(seconds)) s")
    }

    /// A bundle of 32 two-class 8×8 images for a one-epoch MLP, written next to the inbox.
    static func tinyBundle(seed: UInt64, in folder: URL) throws -> URL {
        let data = folder.appendingPathComponent("bundle-\(seed)")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: data) }
        var images: [Float] = [], labels: [Float] = []
        for index in 0..<32 {
            let label = index % 2
            for _ in 0..<8 { for x in 0..<8 { images.append((x < 4) == (label == 0) ? 200 : Float(20 + (index * 7 + x + Int(seed)) % 30)) } }
            labels.append(Float(label))
        }
        try IDXArray.encodeBytes(shape: [32, 8, 8], values: images).write(to: data.appendingPathComponent("images.idx"))
        try IDXArray.encodeBytes(shape: [32], values: labels).write(to: data.appendingPathComponent("labels.idx"))
        let manifest: [String: Any] = [
            "format": 1, "name": "drop-\(seed)", "task": "classification", "classes": ["left", "right"],
            "splits": ["train": ["inputs": "images.idx", "targets": "labels.idx"]],
            "model": ["architecture": "mlp", "width": 8], "training": ["epochs": 1, "batch_size": 8, "seed": seed],
        ]
        try JSONSerialization.data(withJSONObject: manifest, options: .sortedKeys).write(to: data.appendingPathComponent("manifest.json"))
        let bundle = folder.appendingPathComponent("drop-\(seed).tar.gz")
        try BundleArchive.pack(data, to: bundle)
        return bundle
    }
}

/// A scratch folder in TMPDIR for a benchmark.
func makeBenchFolder(_ purpose: String) throws -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("augerino-bench-\(purpose)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return folder
}
