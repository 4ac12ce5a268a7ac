import Foundation
import Bundle
import XCTest

final class SHA256Tests: XCTestCase {
    func test_digest_matchesTheStandardsVectors_andSplitsAnywhere() throws {
        func digest(_ bytes: [UInt8]) -> String { var h = SHA256(); h.update(bytes); return h.finalize() }
        XCTAssertEqual(digest([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(digest(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(digest(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        XCTAssertEqual(digest(million), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        var pieces = SHA256()
        for start in stride(from: 0, to: million.count, by: 777) { pieces.update(million[start..<min(start + 777, million.count)]) }
        XCTAssertEqual(pieces.finalize(), digest(million), "feeding in odd-sized pieces gives the same digest")
    }

    func test_hashFile_agreesWithSha256sum() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sha-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        var generator = SystemRandomNumberGenerator()
        try Data((0..<3_000_001).map { _ in UInt8.random(in: 0...255, using: &generator) }).write(to: url)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        process.arguments = [url.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        guard (try? process.run()) != nil else { throw XCTSkip("needs /usr/bin/sha256sum (coreutils) to compare with") }
        process.waitUntilExit()
        let expected = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).prefix(64)
        XCTAssertEqual(try SHA256.hash(file: url.path), String(expected))
    }
}
