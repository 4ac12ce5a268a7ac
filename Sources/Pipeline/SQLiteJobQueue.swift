import Foundation
import GRDB

/// The job queue in one SQLite file (GRDB): WAL journal with synchronous=FULL, so a committed
/// change survives power loss; every writing transaction begins IMMEDIATE, so two writers (the
/// daemon and `augerino cancel`, say) wait for each other instead of failing half-way.
/// Migrations only grow: a released migration is never edited.
public struct SQLiteJobQueue: JobQueue {
    public let path: String
    let database: any DatabaseWriter
    /// The private copy a read-only opening reads, removed with the last copy of this value.
    private let snapshot: TemporaryFolder?

    /// Opens (creating if needed) the queue at `path` and applies pending migrations.
    /// - Throws: `DatabaseError` when the file cannot be opened or migrated.
    public init(path: String) throws {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        configuration.label = "augerino.queue"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        database = try DatabasePool(path: path, configuration: configuration)
        snapshot = nil
        try Self.migrator.migrate(database)
    }

    private init(path: String, database: any DatabaseWriter, snapshot: TemporaryFolder?) {
        (self.path, self.database, self.snapshot) = (path, database, snapshot)
    }

    /// Opens the queue at `path` for reading only, for `augerino status` and `jobs`: no
    /// migration, no write, and no file created beside it, so it works on a read-only state
    /// folder, for a user who may only read it, and leaves nothing in the daemon's way. While
    /// the daemon has the queue open (its -wal and -shm files exist), SQLite reads the live
    /// file through them. Otherwise SQLite would create those two files, owned by the reader
    /// (a root-owned -shm would stop the daemon's next start), so the reader reads a private
    /// copy made in TMPDIR and removed when done: what the file holds at that moment.
    /// - Throws: `PipelineError.queueUnreadable` naming the file, the reason and what to do.
    public static func openReadOnly(path: String) throws -> SQLiteJobQueue {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        configuration.label = "augerino.queue.reader"
        func probe(_ queue: SQLiteJobQueue) throws -> SQLiteJobQueue {
            _ = try queue.database.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM jobs") }
            return queue
        }
        guard access(path, R_OK) == 0 else {
            throw PipelineError.queueUnreadable(path: path, reason: String(cString: strerror(errno)),
                                                hint: "run the command as the daemon's user, or give your user read access to the state folder")
        }
        var direct: Error?
        if FileManager.default.fileExists(atPath: path + "-wal") && FileManager.default.fileExists(atPath: path + "-shm") {
            do {
                return try probe(SQLiteJobQueue(path: path, database: DatabaseQueue(path: path, configuration: configuration), snapshot: nil))
            } catch {
                direct = error
            }
        }
        do {
            let folder = try TemporaryFolder(prefix: "augerino-queue-")
            let copy = folder.url.appendingPathComponent("queue.sqlite").path
            for suffix in ["", "-wal"] where suffix.isEmpty || FileManager.default.fileExists(atPath: path + suffix) {
                try FileManager.default.copyItem(atPath: path + suffix, toPath: copy + suffix)
            }
            return try probe(SQLiteJobQueue(path: path, database: DatabaseQueue(path: copy, configuration: configuration), snapshot: folder))
        } catch {
            throw PipelineError.queueUnreadable(path: path, reason: direct.map { "\($0); reading a copy failed too: \(error)" } ?? "\(error)",
                                                hint: "check that queue.sqlite and its -wal and -shm files are readable by your user")
        }
    }

    /// The schema's history, oldest first.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("1: jobs") { db in
            try db.execute(sql: """
                CREATE TABLE jobs (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    name TEXT NOT NULL,
                    file_name TEXT NOT NULL,
                    bundle_path TEXT NOT NULL,
                    sha256 TEXT NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
                    attempts INTEGER NOT NULL DEFAULT 0,
                    created_at REAL NOT NULL,
                    started_at REAL,
                    finished_at REAL,
                    not_before REAL,
                    progress TEXT,
                    error TEXT,
                    result_name TEXT,
                    duplicate_of INTEGER REFERENCES jobs(id),
                    cancel_requested INTEGER NOT NULL DEFAULT 0
                );
                CREATE INDEX jobs_by_state ON jobs(state, id);
                CREATE INDEX jobs_by_sha256 ON jobs(sha256);
                """)
        }
        migrator.registerMigration("2: inbox sources and superseding") { db in
            try db.execute(sql: """
                ALTER TABLE jobs ADD COLUMN source TEXT;
                ALTER TABLE jobs ADD COLUMN superseded_by INTEGER REFERENCES jobs(id);
                CREATE INDEX jobs_by_source ON jobs(source);
                CREATE INDEX jobs_failed_by_time ON jobs(state, finished_at);
                """)
        }
        return migrator
    }

    /// Runs `body` in one BEGIN IMMEDIATE transaction.
    private func immediate<T>(_ body: (Database) throws -> T) throws -> T {
        try database.writeWithoutTransaction { db in
            var result: T?
            try db.inTransaction(.immediate) {
                result = try body(db)
                return .commit
            }
            return result!
        }
    }

    private func fetch(_ db: Database, _ id: Int64) throws -> Job {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE id = ?", arguments: [id]) else {
            throw PipelineError.noSuchJob(id: id)
        }
        return try Self.job(row)
    }

    static func job(_ row: Row) throws -> Job {
        func date(_ column: String) -> Date? { (row[column] as Double?).map(Date.init(timeIntervalSince1970:)) }
        let progress = (row["progress"] as String?).flatMap { try? JSONDecoder().decode(JobProgress.self, from: Data($0.utf8)) }
        let stateText: String = row["state"]
        guard let state = JobState(rawValue: stateText) else {
            throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "job \(row["id"] as Int64): unknown state \(stateText)")
        }
        return Job(id: row["id"], name: row["name"], fileName: row["file_name"], bundlePath: row["bundle_path"], sha256: row["sha256"],
                   state: state, attempts: row["attempts"], createdAt: date("created_at")!, startedAt: date("started_at"),
                   finishedAt: date("finished_at"), notBefore: date("not_before"), progress: progress, error: row["error"],
                   resultName: row["result_name"], duplicateOf: row["duplicate_of"], cancelRequested: row["cancel_requested"],
                   source: row["source"], supersededBy: row["superseded_by"])
    }

    /// Changes a job's state, checking the transition is one the lifecycle allows.
    private func transition(_ db: Database, _ id: Int64, from allowed: [JobState], action: String, set: String, _ arguments: StatementArguments) throws -> Job {
        let job = try fetch(db, id)
        guard allowed.contains(job.state) else { throw PipelineError.illegalTransition(id: id, from: job.state, action: action) }
        try db.execute(sql: "UPDATE jobs SET \(set) WHERE id = ?", arguments: arguments + [id])
        return try fetch(db, id)
    }

    public func enqueue(_ new: NewJob, now: Date) throws -> Job {
        try immediate { db in
            let original = try Int64.fetchOne(db, sql: """
                SELECT id FROM jobs WHERE sha256 = ? AND duplicate_of IS NULL AND state IN ('queued', 'running', 'done') AND id IS NOT ?
                ORDER BY id LIMIT 1
                """, arguments: [new.sha256, new.supersedes])
            try db.execute(sql: """
                INSERT INTO jobs (name, file_name, bundle_path, sha256, state, created_at, duplicate_of, source)
                VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)
                """, arguments: [new.name, new.fileName, new.bundlePath, new.sha256, now.timeIntervalSince1970, original, new.source])
            let id = db.lastInsertedRowID
            if let old = new.supersedes {
                let reason = "superseded by job \(id): its inbox file was written again after it was taken"
                switch try fetch(db, old).state {
                case .queued:
                    try db.execute(sql: "UPDATE jobs SET state = 'cancelled', superseded_by = ?, error = ?, finished_at = ? WHERE id = ?",
                                   arguments: [id, reason, now.timeIntervalSince1970, old])
                case .running:
                    try db.execute(sql: "UPDATE jobs SET superseded_by = ?, cancel_requested = 1 WHERE id = ?", arguments: [id, old])
                case .done, .failed, .cancelled:
                    try db.execute(sql: "UPDATE jobs SET superseded_by = ? WHERE id = ?", arguments: [id, old])
                }
            }
            return try fetch(db, id)
        }
    }

    public func job(source: String) throws -> Job? {
        try database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE source = ? ORDER BY id DESC LIMIT 1", arguments: [source]).map(Self.job)
        }
    }

    public func failureCount(since: Date, fileName: String?) throws -> FailureCount {
        try database.read { db in
            let row = try Row.fetchOne(db, sql: """
                SELECT COUNT(CASE WHEN state = 'failed' AND finished_at >= ? THEN 1 END) AS failed,
                       COUNT(CASE WHEN state IN ('queued', 'running') THEN 1 END) AS unfinished
                FROM jobs WHERE state IN ('failed', 'queued', 'running') AND (? IS NULL OR file_name = ?)
                """, arguments: [since.timeIntervalSince1970, fileName, fileName])
            return FailureCount(failed: row?["failed"] ?? 0, unfinished: row?["unfinished"] ?? 0)
        }
    }

    public func claimNext(now: Date) throws -> Job? {
        try immediate { db in
            guard let id = try Int64.fetchOne(db, sql: """
                SELECT id FROM jobs WHERE state = 'queued' AND (not_before IS NULL OR not_before <= ?)
                AND (duplicate_of IS NULL OR (SELECT o.state FROM jobs o WHERE o.id = jobs.duplicate_of) NOT IN ('queued', 'running'))
                ORDER BY id LIMIT 1
                """, arguments: [now.timeIntervalSince1970]) else { return nil }
            try db.execute(sql: "UPDATE jobs SET state = 'running', started_at = COALESCE(started_at, ?) WHERE id = ?",
                           arguments: [now.timeIntervalSince1970, id])
            return try fetch(db, id)
        }
    }

    public func recordProgress(id: Int64, _ progress: JobProgress) throws {
        let text = String(decoding: try JSONEncoder().encode(progress), as: UTF8.self)
        try immediate { db in try db.execute(sql: "UPDATE jobs SET progress = ? WHERE id = ? AND state = 'running'", arguments: [text, id]) }
    }

    public func isCancelRequested(id: Int64) throws -> Bool {
        try database.read { db in try Bool.fetchOne(db, sql: "SELECT cancel_requested FROM jobs WHERE id = ?", arguments: [id]) ?? false }
    }

    public func reserveResult(id: Int64, name: String) throws {
        _ = try immediate { db in try transition(db, id, from: [.running], action: "publish", set: "result_name = ?", [name]) }
    }

    public func complete(id: Int64, resultName: String, now: Date) throws {
        _ = try immediate { db in
            try transition(db, id, from: [.running], action: "complete", set: "state = 'done', result_name = ?, finished_at = ?, error = NULL",
                           [resultName, now.timeIntervalSince1970])
        }
    }

    public func fail(id: Int64, error: String, bundlePath: String, now: Date) throws {
        _ = try immediate { db in
            try transition(db, id, from: [.running], action: "fail", set: "state = 'failed', error = ?, bundle_path = ?, finished_at = ?",
                           [error, bundlePath, now.timeIntervalSince1970])
        }
    }

    public func retryLater(id: Int64, error: String, notBefore: Date, countsAttempt: Bool) throws {
        _ = try immediate { db in
            try transition(db, id, from: [.running], action: "retry later",
                           set: "state = 'queued', error = ?, not_before = ?, attempts = attempts + ?",
                           [error, notBefore.timeIntervalSince1970, countsAttempt ? 1 : 0])
        }
    }

    public func requeue(id: Int64) throws {
        _ = try immediate { db in try transition(db, id, from: [.running], action: "requeue", set: "state = 'queued'", []) }
    }

    public func markCancelled(id: Int64, bundlePath: String, now: Date) throws {
        _ = try immediate { db in
            try transition(db, id, from: [.running], action: "mark cancelled", set: "state = 'cancelled', bundle_path = ?, finished_at = ?",
                           [bundlePath, now.timeIntervalSince1970])
        }
    }

    public func requeueInterrupted() throws -> [Job] {
        try immediate { db in
            let jobs = try Row.fetchAll(db, sql: "SELECT * FROM jobs WHERE state = 'running' ORDER BY id").map(Self.job)
            try db.execute(sql: "UPDATE jobs SET state = 'queued' WHERE state = 'running'")
            return jobs
        }
    }

    public func detachDuplicate(id: Int64) throws {
        try immediate { db in try db.execute(sql: "UPDATE jobs SET duplicate_of = NULL WHERE id = ?", arguments: [id]) }
    }

    public func cancel(id: Int64, now: Date) throws -> Job {
        try immediate { db in
            let job = try fetch(db, id)
            switch job.state {
            case .queued:
                return try transition(db, id, from: [.queued], action: "cancel", set: "state = 'cancelled', finished_at = ?", [now.timeIntervalSince1970])
            case .running:
                return try transition(db, id, from: [.running], action: "cancel", set: "cancel_requested = 1", [])
            case .done, .failed, .cancelled:
                throw PipelineError.illegalTransition(id: id, from: job.state, action: "cancel")
            }
        }
    }

    public func relocateCancelledBundle(id: Int64, from: String, to: String) throws -> Bool {
        try immediate { db in
            try db.execute(sql: "UPDATE jobs SET bundle_path = ? WHERE id = ? AND state = 'cancelled' AND bundle_path = ?", arguments: [to, id, from])
            return db.changesCount > 0
        }
    }

    public func retry(id: Int64) throws -> Job {
        try immediate { db in
            try transition(db, id, from: [.failed, .cancelled], action: "retry",
                           set: "state = 'queued', attempts = 0, error = NULL, not_before = NULL, cancel_requested = 0, finished_at = NULL, result_name = NULL, progress = NULL", [])
        }
    }

    public func job(id: Int64) throws -> Job? {
        try database.read { db in try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE id = ?", arguments: [id]).map(Self.job) }
    }

    public func jobs(state: JobState?) throws -> [Job] {
        try database.read { db in
            if let state {
                return try Row.fetchAll(db, sql: "SELECT * FROM jobs WHERE state = ? ORDER BY id", arguments: [state.rawValue]).map(Self.job)
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM jobs ORDER BY id").map(Self.job)
        }
    }

    public func counts() throws -> [JobState: Int] {
        try database.read { db in
            var counts = Dictionary(uniqueKeysWithValues: JobState.allCases.map { ($0, 0) })
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM jobs GROUP BY state") {
                if let state = JobState(rawValue: row["state"]) { counts[state] = row["n"] }
            }
            return counts
        }
    }

    public func bundlePaths() throws -> Set<String> {
        try database.read { db in Set(try String.fetchAll(db, sql: "SELECT bundle_path FROM jobs")) }
    }
}
