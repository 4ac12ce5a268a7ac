import Foundation
import Pipeline
import XCTest

final class DaemonConfigurationTests: XCTestCase {
    let folder = URL(fileURLWithPath: "/srv/augerino")

    func test_parse_readsEveryKind_ofKey_andResolvesPathsFromTheFilesFolder() throws {
        let text = """
            # comment
            inbox = drop        # trailing comment
            outbox = /var/lib/out
            [daemon]
            workers = 2
            threads = 3
            rescan_interval = 5.5
            log_level = debug
            max_attempts = 4
            [bundle]
            max_member_size = 512M
            max_total_size = 1 GiB
            max_members = 10
            max_compression_ratio = 50
            [training]
            epochs = 7
            learning_rate = 0.003
            reward_units = displacement
            generators = rotation, horizontal_flip
            seed = 42
            """
        let configuration = try DaemonConfiguration.parse(text, file: "daemon.conf", folder: folder)
        XCTAssertEqual(configuration.inbox.path, "/srv/augerino/drop")
        XCTAssertEqual(configuration.outbox.path, "/var/lib/out")
        XCTAssertEqual(configuration.state.path, "/srv/augerino/state", "unset keys keep their defaults")
        XCTAssertEqual(configuration.workers, 2)
        XCTAssertEqual(configuration.threads, 3)
        XCTAssertEqual(configuration.rescanInterval, 5.5)
        XCTAssertEqual(configuration.logLevel, .debug)
        XCTAssertEqual(configuration.maxAttempts, 4)
        XCTAssertEqual(configuration.bundleLimits.maxMemberBytes, 512 << 20)
        XCTAssertEqual(configuration.bundleLimits.maxTotalBytes, 1 << 30)
        XCTAssertEqual(configuration.bundleLimits.maxMembers, 10)
        XCTAssertEqual(configuration.bundleLimits.maxCompressionRatio, 50)
        XCTAssertEqual(configuration.training.integer(.epochs), 7)
        XCTAssertEqual(configuration.training.real(.learningRate), 0.003)
        XCTAssertEqual(configuration.training.choice(.rewardUnits), "displacement")
        XCTAssertEqual(configuration.training.names(.generators), ["rotation", "horizontal_flip"])
        XCTAssertEqual(configuration.training.seed(.seed), 42)
        XCTAssertNil(configuration.training[.batchSize], "unset training keys leave the manifest and built-ins in charge")
    }

    func test_parse_whenALineIsWrong_theErrorNamesTheFileLineAndRule() {
        let cases: [(String, String)] = [
            ("inbox = a\n[daemon]\nworkerz = 2", "daemon.conf, line 3: unknown key \"workerz\" in [daemon]; the keys here are workers, threads"),
            ("[daemon]\nworkers = 0", "daemon.conf, line 2: \"workers\" must be a whole number from 1 to 64, not \"0\""),
            ("[daemon]\nlog_level = loud", "line 2: \"log_level\" must be one of trace, debug, info"),
            ("[bundle]\nmax_total_size = 12Q", "line 2: \"max_total_size\" must be a positive size in bytes"),
            ("[traning]", "line 1: unknown section [traning]; the sections are [daemon], [bundle], [job], [queue], [training]"),
            ("inbox", "line 1: expected `key = value`, found \"inbox\""),
            ("inbox = a\ninbox = b", "line 2: \"inbox\" is set twice"),
            ("[training]\nepochs =", "line 2: \"epochs\" has no value"),
            ("[training]\nreward_units = pixels", "\"reward_units\" must be \"displacement\" or \"parameter\", not \"pixels\""),
            ("[training]\nlearning_rate = 10", "line 2: \"learning_rate\" must be a number above 0 and below 10, not \"10\""),
            ("[training]\nepochz = 3", "line 2: unknown key \"epochz\" in [training]; the keys here are epochs, batch_size"),
            ("[daemon", "line 1: a section header is `[name]`"),
            ("workers = 2", "line 1: unknown key \"workers\" at the top; the keys here are inbox, outbox, state"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try DaemonConfiguration.parse(text, file: "daemon.conf", folder: folder), text) { error in
                XCTAssertTrue("\(error)".contains(expected), "«\(text)» gave «\(error)»")
            }
        }
    }

    /// `[queue]`: a PostgreSQL URL (never with its password) and the file that holds the password.
    func test_parse_queue_takesAPostgresURL_andAPasswordFile_neverThePasswordItself() throws {
        try XCTSkipUnless(PostgresQueueSettings.isBuilt, "this build has no PostgreSQL queue: the tests run with it as `swift test --traits PostgreSQL`")
        let configuration = try DaemonConfiguration.parse("[queue]\nurl = postgresql://augerino@db:5433/jobs?schema=team\npassword_file = secret/pw",
                                                          file: "daemon.conf", folder: folder)
        guard case .postgres(let settings, let file) = configuration.queue else { return XCTFail("\(configuration.queue)") }
        XCTAssertEqual(settings.endpoint, .tcp(host: "db", port: 5433))
        XCTAssertEqual(settings.schema, "team")
        XCTAssertEqual(file?.path, folder.appendingPathComponent("secret/pw").path, "relative to daemon.conf's folder")
        XCTAssertEqual(try DaemonConfiguration.parse("", file: "d", folder: folder).queue, .sqlite, "SQLite unless [queue] says otherwise")
        let named = try DaemonConfiguration.parse("[queue]\nhost_name = worker-3.lab\nlease = 2m", file: "d", folder: folder)
        XCTAssertEqual(named.leaseHolder, LeaseHolder(host: "worker-3.lab", duration: 120))
        XCTAssertEqual(try DaemonConfiguration.parse("", file: "d", folder: folder).leaseHolder,
                       LeaseHolder(host: LeaseHolder.machineHostName, duration: 60), "the machine's name and a minute by default")
        XCTAssertThrowsError(try configuration.openQueue(state: StateDirectory(folder))) { error in
            XCTAssertTrue("\(error)".contains("[queue] password_file \(folder.path)/secret/pw cannot be read"), "\(error)")
        }
        let refused: [(String, String)] = [
            ("[queue]\nurl = postgresql://a:hunter2@db/jobs", "line 2: \"url\" must not hold the password"),
            ("[queue]\npassword_file = pw", "line 2: \"password_file\" needs a \"url\" before it in [queue]"),
            ("[queue]\nurl = https://db/jobs", "\"url\" must be a URL postgresql://USER@HOST[:PORT]/DATABASE"),
            ("[queue]\nhost_name = a b", "line 2: \"host_name\" must be 1 to 64 letters, digits, dots, hyphens or underscores, not \"a b\""),
            ("[queue]\nhost_name = \u{1b}[2J", "not \"\\u{1b}[2J\""),
            ("[queue]\nlease = 1s", "line 2: \"lease\" must be seconds from 2.0 to 86400.0"),
        ]
        for (text, expected) in refused {
            XCTAssertThrowsError(try DaemonConfiguration.parse(text, file: "daemon.conf", folder: folder), text) { error in
                XCTAssertTrue("\(error)".contains(expected), "«\(text)» gave «\(error)»")
                XCTAssertFalse("\(error)".contains("hunter2"), "the password is never repeated")
            }
        }
    }

    /// A build without the trait PostgreSQL refuses a `[queue]` url and says how to build it.
    func test_parse_queueURL_inABuildWithoutThePostgreSQLQueue_saysHowToBuildOne() throws {
        try XCTSkipIf(PostgresQueueSettings.isBuilt, "this build has the PostgreSQL queue (trait PostgreSQL)")
        XCTAssertThrowsError(try DaemonConfiguration.parse("[queue]\nurl = postgresql://augerino@db/jobs", file: "daemon.conf", folder: folder)) { error in
            XCTAssertTrue("\(error)".contains("daemon.conf, line 2: \"url\" needs the PostgreSQL queue, which this augerino was built without: build it with `swift build -c release --traits PostgreSQL`"), "\(error)")
        }
    }

    /// `shared_state`: spool (one folder per host), quarantine, checkpoints and finished results
    /// on the shared folder; the lock, the work folders and the SQLite file stay the host's own.
    func test_parse_sharedState_movesWhatEveryHostMustReach_andNeedsAPostgresQueue() throws {
        try XCTSkipUnless(PostgresQueueSettings.isBuilt, "this build has no PostgreSQL queue: the tests run with it as `swift test --traits PostgreSQL`")
        let configuration = try DaemonConfiguration.parse("state = local\nshared_state = /mnt/fleet/state\n[queue]\nurl = postgresql://a@db/jobs\nhost_name = h2",
                                                          file: "daemon.conf", folder: folder)
        let state = configuration.stateDirectory
        XCTAssertEqual(state.spool.path, "/mnt/fleet/state/spool/h2")
        XCTAssertEqual([state.quarantine.path, state.checkpoints.path, state.finished.path],
                       ["/mnt/fleet/state/quarantine", "/mnt/fleet/state/checkpoints", "/mnt/fleet/state/finished"])
        XCTAssertEqual([state.work.path, state.lockPath], [folder.appendingPathComponent("local/work").path, folder.appendingPathComponent("local/daemon.lock").path])
        XCTAssertTrue(state.isInSpool("/mnt/fleet/state/spool/h1/123--a.tar.gz"), "another host's spool is a spool too")
        XCTAssertFalse(state.isInSpool("/mnt/fleet/state/quarantine/123--a.tar.gz"))
        XCTAssertFalse(state.isInSpool("/mnt/fleet/state/spoolish/x"))
        let alone = try DaemonConfiguration.parse("state = local", file: "d", folder: folder).stateDirectory
        XCTAssertEqual(alone.spool.path, folder.appendingPathComponent("local/spool").path, "one host: the spool as before")
        XCTAssertThrowsError(try DaemonConfiguration.parse("shared_state = /mnt/x", file: "daemon.conf", folder: folder)) { error in
            XCTAssertTrue("\(error)".contains("\"shared_state\" is for many hosts on one PostgreSQL queue, and this file has no [queue] url"), "\(error)")
        }
    }

    func test_parse_ingestLimits_withDurationUnits_andZeroForNoLimit() throws {
        let text = """
            [daemon]
            rewrite_window = 5m
            max_failures = 0
            max_failures_per_name = 3
            failure_window = 2h
            quarantine_retention = 7d
            quarantine_max_size = 0
            error_retention = 90s
            settle_time = 1.5
            """
        let configuration = try DaemonConfiguration.parse(text, file: "daemon.conf", folder: folder)
        XCTAssertEqual(configuration.rewriteWindow, 300)
        XCTAssertEqual(configuration.maxFailures, 0)
        XCTAssertEqual(configuration.maxFailuresPerName, 3)
        XCTAssertEqual(configuration.failureWindow, 7200)
        XCTAssertEqual(configuration.quarantineRetention, 7 * 86_400)
        XCTAssertEqual(configuration.quarantineMaxSize, 0)
        XCTAssertEqual(configuration.errorRetention, 90)
        XCTAssertEqual(configuration.settleTime, 1.5)
        let defaults = DaemonConfiguration(folder: folder)
        XCTAssertEqual([defaults.rewriteWindow, defaults.failureWindow, defaults.quarantineRetention, defaults.errorRetention], [300, 3600, 30 * 86_400, 30 * 86_400])
        XCTAssertEqual([defaults.maxFailures, defaults.maxFailuresPerName, defaults.quarantineMaxSize], [100, 5, 10 << 30])
        for (line, expected) in [("failure_window = 0", "\"failure_window\" must be seconds from 1.0"), ("error_retention = 3w", "(or with s, m, h or d), not \"3w\""),
                                 ("quarantine_max_size = -1", "\"quarantine_max_size\" must be a size in bytes")] {
            XCTAssertThrowsError(try DaemonConfiguration.parse("[daemon]\n" + line, file: "daemon.conf", folder: folder)) { error in
                XCTAssertTrue("\(error)".contains(expected), "«\(line)» gave «\(error)»")
            }
        }
    }

    func test_load_theRepositorysDaemonConf_parses() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../daemon.conf").standardized
        let configuration = try DaemonConfiguration.load(file)
        XCTAssertEqual(configuration.inbox.lastPathComponent, "inbox")
        XCTAssertEqual(configuration.outbox.lastPathComponent, "outbox")
    }
}
