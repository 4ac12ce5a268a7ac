import Foundation

/// A folder of its own under TMPDIR (mkdtemp, mode 0700), removed with everything in it when
/// the last reference goes.
final class TemporaryFolder: Sendable {
    let url: URL

    /// - Throws: `PipelineError.io` when TMPDIR has no room or no write access.
    init(prefix: String) throws {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array((base + "/" + prefix + "XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw PipelineError.io(base, "creating a temporary folder")
        }
        url = URL(fileURLWithPath: String(cString: made))
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}
