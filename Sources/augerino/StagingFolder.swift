import Bundle
import Foundation
import Synchronization

/// The folder a bundle is unpacked into by `augerino train` and `bundle check`:
/// `$TMPDIR/augerino-staging-<pid>-XXXXXX`, removed on every way out: when done, when the
/// command fails, and on SIGINT or SIGTERM. One left by a crash (its pid no longer runs) is
/// removed by the next command that stages a bundle.
final class StagingFolder: Sendable {
    static let prefix = "augerino-staging-"
    let url: URL
    /// Folders not yet removed, and the signal handlers that remove them (made once).
    private static let live = Mutex<(paths: Set<String>, signalSources: [DispatchSourceSignal])>(([], []))

    init() throws {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        Self.removeStale(in: base)
        var template = Array((base + "/" + Self.prefix + "\(getpid())-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw CommandFailure("\(base): cannot make a staging folder to unpack the bundle into (\(String(cString: strerror(errno)))); set TMPDIR to a folder with room")
        }
        url = URL(fileURLWithPath: String(cString: made))
        let path = url.path
        Self.live.withLock { live in
            live.paths.insert(path)
            if live.signalSources.isEmpty { live.signalSources = [SIGINT, SIGTERM].map(Self.removeOnSignal) }
        }
    }

    /// Removes the folder and all in it.
    func remove() {
        try? FileManager.default.removeItem(at: url)
        let path = url.path
        _ = Self.live.withLock { $0.paths.remove(path) }
    }

    deinit { remove() }

    private static func removeOnSignal(_ number: Int32) -> DispatchSourceSignal {
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        source.setEventHandler {
            for path in live.withLock({ $0.paths }) { try? FileManager.default.removeItem(atPath: path) }
            exit(128 + number)
        }
        source.resume()
        return source
    }

    /// Removes staging folders whose process is gone (a crash, a kill -9).
    static func removeStale(in base: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: base) else { return }
        for name in names where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count).prefix { $0 != "-" }), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { try? FileManager.default.removeItem(atPath: base + "/" + name) }
        }
    }
}

/// A command's failure that is not a usage error: printed as `Error: …` (control characters
/// escaped), exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description.escapingControlCharacters }
}
