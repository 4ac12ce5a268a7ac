// Built with the package trait PostgreSQL only: `swift test --traits PostgreSQL` (the README's test command).
#if PostgreSQL
import Foundation
import Pipeline
import TestSupport
import XCTest

/// Several daemons standing for hosts — each with its own inbox, state folder and host name —
/// on one real PostgreSQL server (`PostgresCluster`), sharing one outbox and one shared state
/// folder (spool, quarantine, checkpoints). What issue 16 promises: every bundle exactly once
/// in the outbox whatever a host or the server does, and a host cut off from the queue for
/// longer than its lease loses its job and never publishes it.
final class DaemonFleetTests: XCTestCase {
    /// Points `daemon` at the cluster's queue under `host` name, with a short lease.
    func join(_ daemon: DaemonHarness, _ cluster: PostgresCluster, schema: String, host: String, address: String = "127.0.0.1", lease: String = "4s") throws {
        try Data((cluster.password + "\n").utf8).write(to: daemon.root.appendingPathComponent("queue-password"))
        let section = "\n[queue]\nurl = postgresql://\(cluster.user)@\(address):\(cluster.port)/postgres?schema=\(schema)\n" +
            "password_file = queue-password\nhost_name = \(host)\nlease = \(lease)\n"
        let handle = try FileHandle(forWritingTo: daemon.config)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(section.utf8))
        try handle.close()
    }

    /// The queue, read as `augerino jobs` reads it.
    func queue(_ cluster: PostgresCluster, schema: String) throws -> PostgresJobQueue {
        try PostgresJobQueue.openReadOnly(PostgresQueueSettings(endpoint: .tcp(host: "127.0.0.1", port: cluster.port), user: cluster.user,
                                                                database: "postgres", schema: schema, password: cluster.password))
    }

    /// The outbox's entries, and which of them hold a model.
    func published(_ outbox: URL) -> (entries: [String], models: Set<String>) {
        let entries = ((try? FileManager.default.contentsOfDirectory(atPath: outbox.path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        return (entries, Set(entries.filter { FileManager.default.fileExists(atPath: outbox.appendingPathComponent("\($0)/model.safetensors").path) }))
    }

    func test_threeHosts_sixtyBundles_twoSharingAnInbox_eachExactlyOnceInTheOutbox_throughAKillDashNineAndAServerRestart() throws {
        let cluster = try PostgresCluster()
        defer { cluster.stop() }
        let fleet = try makeScratchFolder("fleet")
        defer { try? FileManager.default.removeItem(at: fleet) }
        // host-0 and host-1 share one inbox (both watch it and race for every file); host-2 has its own.
        let hosts = try (0..<3).map { index -> DaemonHarness in
            let daemon = try DaemonHarness("fleet-\(index)", fleet: fleet, sharedInbox: index < 2)
            try join(daemon, cluster, schema: "fleet", host: "host-\(index)")
            return daemon
        }
        for daemon in hosts { try daemon.start() }
        for daemon in hosts { daemon.waitUntilReady() }
        let names = (0..<60).map { "bundle-\($0)" }
        let bundles = try (0..<60).map { try TinyBundle.make(seed: UInt64(1_000 + $0), epochs: 4) }
        let queue = try queue(cluster, schema: "fleet")
        // Which of two hosts wakes first for a file is a race; host-0 could win every one. So the
        // first two files are dropped while host-0 is held still, and host-1 must take them.
        hosts[0].pause()
        for index in 0..<2 { try hosts[0].drop(bundles[index], as: names[index] + ".tar.gz") }
        hosts[1].waitUntil("host-1 takes the files host-0 cannot", timeout: 30) {
            try queue.jobs(state: nil).filter { $0.bundlePath.contains("/spool/host-1/") }.count == 2
        }
        hosts[0].resume()
        for index in 2..<30 { try hosts[index % 3 == 2 ? 2 : 0].drop(bundles[index], as: names[index] + ".tar.gz") }

        // A host killed -9 while it trains, at a random moment, and started again.
        hosts[0].waitUntil("some results are out", timeout: 120) { self.published(hosts[0].outbox).models.count >= 5 }
        var victim: Job?
        hosts[1].waitUntil("host-1 is in the middle of a job", timeout: 60) {
            victim = try queue.jobs(state: .running).first { $0.lease?.host == "host-1" && ($0.progress?.epoch ?? 0) >= 1 }
            return victim != nil
        }
        XCTAssertEqual(hosts[1].stop(SIGKILL).status, SIGKILL)
        // Killed while it held the job (it may also have finished it in the instant before).
        let heldAtTheKill = try queue.job(id: victim!.id).map { $0.state == .running && $0.lease?.host == "host-1" } ?? false
        for index in 30..<60 { try hosts[index % 3 == 2 ? 2 : 0].drop(bundles[index], as: names[index] + ".tar.gz") }
        usleep(500_000)
        try hosts[1].start()

        // The server restarted (every connection dropped) while the hosts work.
        hosts[0].waitUntil("more results are out", timeout: 180) { self.published(hosts[0].outbox).models.count >= 30 }
        try cluster.restart(after: 2)

        hosts[0].waitUntil("all 60 results are out", timeout: 300) { self.published(hosts[0].outbox).models.count >= 60 }
        let missing = Set(names).subtracting(published(hosts[0].outbox).models)
        if !missing.isEmpty {
            // What each host and the queue say of a bundle that did not come out.
            for name in missing.sorted() {
                let job = try? queue.jobs(state: nil).first { $0.fileName == name + ".tar.gz" }
                print("fleet: \(name) missing; its job: \(job.map { "\($0)" } ?? "none in the queue")")
                for (index, daemon) in hosts.enumerated() {
                    for line in daemon.logText.split(separator: "\n") where line.contains(name + ".") || line.contains(name + " ") || line.contains(name + ":")
                        || job.map({ line.contains("job \($0.id):") || line.contains("job \($0.id) ") }) == true {
                        print("fleet: host-\(index): \(line)")
                    }
                }
            }
        }
        hosts[0].waitUntil("the queue records all 60 as done", timeout: 60) { try queue.counts()[.done] == 60 }
        usleep(1_000_000)  // time for a wrong second publish, if there were one

        let (entries, models) = published(hosts[0].outbox)
        XCTAssertEqual(entries, names.sorted(), "each bundle exactly once: none twice (no NAME-2), none missing, no error.json")
        XCTAssertEqual(models, Set(names))
        let jobs = try queue.jobs(state: nil)
        XCTAssertEqual(jobs.count, 60, "one job per bundle: a host's restart took nothing twice")
        XCTAssertEqual(Set(jobs.compactMap(\.resultName)), Set(names))
        XCTAssertTrue(jobs.allSatisfy { $0.state == .done && $0.duplicateOf == nil && $0.lease == nil }, "\(jobs.filter { $0.state != .done })")
        for host in ["host-0", "host-1"] {
            XCTAssertTrue(jobs.contains { $0.bundlePath.contains("/spool/\(host)/") }, "\(host) took files from the inbox it shares")
        }
        let spools = fleet.appendingPathComponent("state/spool")
        for host in (try? FileManager.default.contentsOfDirectory(atPath: spools.path)) ?? [] {
            let left = ((try? FileManager.default.contentsOfDirectory(atPath: spools.appendingPathComponent(host).path)) ?? []).filter { !$0.hasPrefix(".") }
            XCTAssertEqual(left, [], "host \(host)'s spool keeps no finished bundle")
        }
        if heldAtTheKill {
            XCTAssertGreaterThan(try XCTUnwrap(try queue.job(id: victim!.id)).generation, victim!.generation, "the killed host's job was taken back and claimed again")
        }
        let logs = hosts.map(\.logText).joined(separator: "\n")
        XCTAssertTrue(logs.contains("cannot read the queue") || logs.contains("cannot renew") || logs.contains("in the queue: "),
                      "the server's restart was noticed (and waited out)")
        for daemon in hosts { XCTAssertEqual(daemon.stop().status, 0, daemon.logText.suffix(3000).description) }
    }

    /// A host cut off from the server (its own network namespace, its link set down) for longer
    /// than its lease: another host takes the job over and finishes it from the last checkpoint
    /// with bitwise the weights of an uninterrupted run; when the link comes back, the cut-off
    /// host is refused and publishes nothing.
    func test_aHostCutOffLongerThanItsLease_losesItsJob_andNeverPublishes_whileTheNewHolderFinishesIt() throws {
        let network = try TestNetwork()
        defer { network.remove() }
        let cluster = try PostgresCluster(network: (network.hostAddress, network.subnet))
        defer { cluster.stop() }
        // Long enough that host-a is still training when its link is cut (150 epochs were, before
        // the numeric layers were optimised in debug builds too).
        let epochs = 500
        let bundle = try TinyBundle.make(seed: 161, epochs: epochs)

        let reference = try DaemonHarness("fleet-reference")
        try reference.start()
        try reference.drop(bundle, as: "cut.tar.gz")
        reference.waitUntil("the reference run finishes", timeout: 120) { try reference.jobs().first?.state == .done }
        reference.stop()

        let fleet = try makeScratchFolder("fleet-cut")
        defer { try? FileManager.default.removeItem(at: fleet) }
        let cutOff = try DaemonHarness("fleet-cut-a", fleet: fleet)
        try join(cutOff, cluster, schema: "cut", host: "host-a", address: network.hostAddress)
        cutOff.launcher = ["/usr/sbin/ip", "netns", "exec", network.namespace]
        let other = try DaemonHarness("fleet-cut-b", fleet: fleet)
        try join(other, cluster, schema: "cut", host: "host-b")
        try cutOff.start()
        cutOff.waitUntilReady()
        try cutOff.drop(bundle, as: "cut.tar.gz")
        let queue = try queue(cluster, schema: "cut")
        cutOff.waitUntil("host-a trains past epoch 3") {
            let job = try queue.jobs(state: .running).first
            return job?.lease?.host == "host-a" && (job?.progress?.epoch ?? 0) > 3
        }
        let (status, code) = try other.command(["status"])
        XCTAssertEqual(code, 0, status)
        XCTAssertTrue(status.contains("running: job 1 (cut) on host-a pid ") && status.contains("left: epoch "),
                      "status on another host shows who holds the job and how far it is: \(status)")
        try other.start()
        try network.cut()
        other.waitUntil("host-b takes the job over and finishes it", timeout: 120) { try queue.jobs(state: .done).count == 1 }
        let resumed = try XCTUnwrap(other.logText.components(separatedBy: "resuming after epoch ").dropFirst().first?.split(separator: " ").first.flatMap { Int($0) },
                                    "host-b resumed from host-a's checkpoint: \(other.logText.suffix(3000))")
        XCTAssertLessThan(resumed, epochs, "host-a stopped its job when its lease was about to run out, and host-b trained the rest")
        try network.heal()
        cutOff.waitUntil("host-a learns it lost the job", timeout: 60) { cutOff.logText.contains("stopped without recording or publishing anything more") }
        XCTAssertTrue(cutOff.logText.contains("no renewal of its lease reached the queue"), "host-a stopped its job itself: \(cutOff.logText.suffix(3000))")
        usleep(2_000_000)
        XCTAssertEqual(published(other.outbox).entries, ["cut"], "one result, host-b's; host-a published nothing")
        XCTAssertEqual(try other.modelTensors("cut"), try reference.modelTensors("cut"), "bitwise the weights of the uninterrupted run")
        let job = try XCTUnwrap(try queue.jobs(state: .done).first)
        XCTAssertGreaterThanOrEqual(job.generation, 3, "claimed by host-a (1), expired (2), claimed by host-b (3)")
        XCTAssertEqual(cutOff.stop().status, 0, cutOff.logText.suffix(3000).description)
        XCTAssertEqual(other.stop().status, 0)
    }
}

/// A network namespace joined to this machine by a veth pair (a /30 of its own), for a daemon
/// whose link to the server a test cuts and heals. Needs root and `ip` (iproute2); else the
/// test is skipped with a sentence.
final class TestNetwork {
    let namespace: String
    let hostLink: String
    let hostAddress: String
    let subnet: String

    init() throws {
        guard getuid() == 0 else { throw XCTSkip("cutting a host's network needs root (ip netns); skipped") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") else { throw XCTSkip("cutting a host's network needs /usr/sbin/ip (Debian package iproute2); skipped") }
        let tag = String(format: "%05d", Int(getpid()) % 100_000)
        namespace = "augerino-\(tag)"
        hostLink = "aug\(tag)h"
        let octet = Int(getpid()) % 60 * 4
        hostAddress = "10.213.\(Int(getpid()) / 60 % 250).\(octet + 1)"
        subnet = "10.213.\(Int(getpid()) / 60 % 250).\(octet)/30"
        let inside = "10.213.\(Int(getpid()) / 60 % 250).\(octet + 2)"
        do {
            try Self.ip(["netns", "add", namespace])
            try Self.ip(["link", "add", hostLink, "type", "veth", "peer", "name", "aug\(tag)n", "netns", namespace])
            try Self.ip(["addr", "add", "\(hostAddress)/30", "dev", hostLink])
            try Self.ip(["link", "set", hostLink, "up"])
            try Self.ip(["netns", "exec", namespace, "ip", "addr", "add", "\(inside)/30", "dev", "aug\(tag)n"])
            try Self.ip(["netns", "exec", namespace, "ip", "link", "set", "aug\(tag)n", "up"])
            try Self.ip(["netns", "exec", namespace, "ip", "link", "set", "lo", "up"])
        } catch {
            remove()
            throw error
        }
    }

    func cut() throws { try Self.ip(["link", "set", hostLink, "down"]) }
    func heal() throws { try Self.ip(["link", "set", hostLink, "up"]) }

    func remove() {
        _ = try? Self.ip(["link", "del", hostLink])
        _ = try? Self.ip(["netns", "del", namespace])
    }

    static func ip(_ arguments: [String]) throws {
        let (output, status) = try runProgram(URL(fileURLWithPath: "/usr/sbin/ip"), arguments)
        guard status == 0 else {
            throw XCTSkip("`ip \(arguments.joined(separator: " "))` failed (\(output.trimmingCharacters(in: .whitespacesAndNewlines))): this machine does not allow network namespaces here; skipped")
        }
    }
}
#endif
