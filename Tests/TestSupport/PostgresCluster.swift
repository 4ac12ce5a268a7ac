import Foundation
import XCTest

/// A real PostgreSQL server for the tests: a cluster made with initdb in a temporary folder,
/// started on a free loopback port and a private socket folder, stopped and removed when done.
/// Debian's `postgresql` package provides the programs (`.ci/run` installs it). The server
/// refuses to run as root, so as root it runs as the `postgres` user the package creates.
public final class PostgresCluster {
    public let folder: URL
    public let port: Int
    public let user = "augerino"
    /// `postgresql://augerino@127.0.0.1:PORT/postgres`, with `schema`.
    public func url(schema: String) -> String { "postgresql://\(user)@127.0.0.1:\(port)/postgres?schema=\(schema)" }
    /// The password TCP connections need (scram-sha-256); the socket trusts its local users.
    public let password = "pw-\(UUID().uuidString.prefix(8))"
    private let runAs: [String]
    private let bin: URL

    /// Addresses the server listens on besides 127.0.0.1 (a test's private veth address).
    private let extraAddresses: [String]
    private var data: String { folder.appendingPathComponent("data").path }

    /// Starts a cluster, or throws `XCTSkip` with a sentence saying what is missing.
    /// - Parameter network: an address of this machine (a test's veth) for the server to listen
    ///   on as well, and the subnet whose clients may log in with the password.
    public init(network: (address: String, subnet: String)? = nil) throws {
        extraAddresses = network.map { [$0.address] } ?? []
        guard let bin = Self.findBinaries() else {
            throw XCTSkip("PostgreSQL's server programs (initdb, pg_ctl) are not installed: `apt-get install postgresql` (.ci/run does)")
        }
        self.bin = bin
        if getuid() == 0 {
            guard getpwnam("postgres") != nil, FileManager.default.isExecutableFile(atPath: "/usr/sbin/runuser") else {
                throw XCTSkip("running as root, and there is no `postgres` user (or no runuser) to start PostgreSQL as: install Debian's postgresql package")
            }
            runAs = ["/usr/sbin/runuser", "-u", "postgres", "--"]
        } else {
            runAs = []
        }
        folder = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("augerino-pg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        port = try Self.freePort()
        do {
            if getuid() == 0, let owner = getpwnam("postgres") {
                guard chown(folder.path, owner.pointee.pw_uid, owner.pointee.pw_gid) == 0 else { throw XCTSkip("cannot give \(folder.path) to the postgres user") }
            }
            let data = folder.appendingPathComponent("data").path
            let passwordFile = folder.appendingPathComponent("password")
            try Data(password.utf8).write(to: passwordFile)
            if getuid() == 0, let owner = getpwnam("postgres") { chown(passwordFile.path, owner.pointee.pw_uid, owner.pointee.pw_gid) }
            try run("initdb", ["-D", data, "-U", user, "--pwfile", passwordFile.path, "--auth-local=trust", "--auth-host=scram-sha-256",
                               "-E", "UTF8", "--no-sync", "--no-instructions"])
            if let network {
                let rules = try FileHandle(forWritingTo: URL(fileURLWithPath: data).appendingPathComponent("pg_hba.conf"))
                try rules.seekToEnd()
                try rules.write(contentsOf: Data("host all all \(network.subnet) scram-sha-256\n".utf8))
                try rules.close()
            }
            try start()
        } catch {
            try? FileManager.default.removeItem(at: folder)
            throw error
        }
    }

    private func start() throws {
        let addresses = (["127.0.0.1"] + extraAddresses).joined(separator: ",")
        try run("pg_ctl", ["-D", data, "-l", folder.appendingPathComponent("server.log").path, "-w", "-t", "60", "-o",
                           "-p \(port) -k \(folder.path) -c listen_addresses=\(addresses) -c fsync=off -c full_page_writes=off -c max_connections=100",
                           "start"])
    }

    /// Stops the server at once (as a crash would: every connection dropped), waits `pause`
    /// seconds and starts it again on the same port with the same data.
    public func restart(after pause: Double = 1) throws {
        try run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"])
        usleep(UInt32(pause * 1_000_000))
        try start()
    }

    /// Stops the server at once and removes its folder.
    public func stop() {
        _ = try? run("pg_ctl", ["-D", folder.appendingPathComponent("data").path, "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(at: folder)
    }

    /// The newest Debian server folder (/usr/lib/postgresql/N/bin), else the folder of an initdb on PATH.
    static func findBinaries() -> URL? {
        let debian = URL(fileURLWithPath: "/usr/lib/postgresql")
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: debian.path)) ?? []).compactMap(Int.init).sorted()
        if let newest = versions.last {
            let bin = debian.appendingPathComponent("\(newest)/bin")
            if FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent("initdb").path) { return bin }
        }
        for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let bin = URL(fileURLWithPath: String(folder))
            if FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent("initdb").path),
               FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent("pg_ctl").path) { return bin }
        }
        return nil
    }

    /// Runs a server program and waits for it. posix_spawn and waitpid, not Foundation's
    /// Process: pg_ctl leaves the server running with its parent's descriptors, and Process
    /// learns of an exit through a descriptor that the server would then hold open for ever.
    @discardableResult
    func run(_ program: String, _ arguments: [String]) throws -> String {
        let command = runAs + [bin.appendingPathComponent(program).path] + arguments
        let outputFile = folder.appendingPathComponent("\(program).out").path
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputFile, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var pid = pid_t()
        let argv = command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let spawned = posix_spawn(&pid, command[0], &actions, nil, argv, environ)
        guard spawned == 0 else { throw XCTSkip("cannot start \(command[0]): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? ""
        let exited = status & 0x7f == 0, code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            let log = (try? String(contentsOf: folder.appendingPathComponent("server.log"), encoding: .utf8)) ?? ""
            throw XCTSkip("PostgreSQL's \(program) failed (status \(status)): \(text) \(log.suffix(600))")
        }
        return text
    }

    /// A port nothing listens on now (the kernel's choice for a socket bound to port 0).
    public static func freePort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw XCTSkip("cannot open a socket to find a free port") }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0 }
        }
        guard bound else { throw XCTSkip("cannot bind a loopback socket to find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
