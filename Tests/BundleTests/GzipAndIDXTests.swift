import Foundation
import TestSupport
import XCTest
@testable import Bundle

final class GzipTests: XCTestCase {
    let text = Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 * 7 % 251) })

    func test_roundTrip_andMultipleMembers() throws {
        let one = Gzip.compress(text)
        XCTAssertEqual(try Gzip.decompress(one, file: "a.gz"), text)
        XCTAssertEqual(try Gzip.decompress(one + Gzip.compress(Data("tail".utf8)), file: "a.gz"), text + Data("tail".utf8))
        XCTAssertEqual(try Gzip.decompress(Gzip.compress(Data()), file: "empty.gz"), Data())
    }

    func test_readsWhatTheSystemGzipWrites() throws {
        let folder = try makeScratchFolder("gzip")
        defer { try? FileManager.default.removeItem(at: folder) }
        let plain = folder.appendingPathComponent("data.bin")
        try text.write(to: plain)
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        gzip.arguments = ["gzip", "-9", "-k", plain.path]
        try gzip.run()
        gzip.waitUntilExit()
        XCTAssertEqual(gzip.terminationStatus, 0)
        XCTAssertEqual(try Gzip.decompress(Data(contentsOf: folder.appendingPathComponent("data.bin.gz")), file: "data.bin.gz"), text)
    }

    func test_rejectsBrokenStreams_namingTheRule() {
        let good = Gzip.compress(text)
        var badCRC = good
        badCRC[badCRC.count - 6] ^= 0xFF  // inside the CRC-32 trailer
        var badLength = good
        badLength[badLength.count - 1] ^= 0x01  // inside the ISIZE trailer
        let cases: [(Data, String)] = [
            (Data("plain text".utf8), "magic bytes 1f 8b"),
            (good.prefix(good.count / 2), "truncated"),
            (good.prefix(good.count - 3), "truncated"),
            (good + Data([0, 1, 2]), "3 bytes follow the last gzip member"),
            (badCRC, "incorrect data check"),
            (badLength, "incorrect length check"),
        ]
        for (data, rule) in cases {
            XCTAssertThrowsError(try Gzip.decompress(data, file: "x.gz"), rule) { error in
                let message = String(describing: error)
                XCTAssertTrue(message.hasPrefix("x.gz: not a valid gzip stream") && message.contains(rule), "expected «\(rule)» in «\(message)»")
            }
        }
    }

    func test_stopsAtTheOutputLimit_withoutInflatingEverything() {
        let zeros = Gzip.compress(Data(count: 50_000_000), level: 9)  // about 50 KB compressed
        XCTAssertThrowsError(try Gzip.decompress(zeros, file: "bomb.gz", limit: 1 << 20)) {
            XCTAssertTrue(String(describing: $0).contains("more than the 1048576-byte limit"), String(describing: $0))
        }
    }
}

final class IDXTests: XCTestCase {
    func test_bytesRoundTrip_plainAndGzipped() throws {
        let values: [Float] = (0..<24).map { Float($0 * 10) }
        let encoded = IDXArray.encodeBytes(shape: [2, 3, 4], values: values)
        XCTAssertEqual(try IDXArray.parse(encoded, file: "a.idx"), IDXArray(shape: [2, 3, 4], values: values))
        XCTAssertEqual(try IDXArray.parse(Gzip.compress(encoded), file: "a.idx.gz").shape, [2, 3, 4])
    }

    func test_float32Elements() throws {
        var data = Data([0, 0, 0x0D, 1, 0, 0, 0, 2])
        for value: Float in [1.5, -2] { withUnsafeBytes(of: value.bitPattern.bigEndian) { data.append(contentsOf: $0) } }
        XCTAssertEqual(try IDXArray.parse(data, file: "f.idx").values, [1.5, -2])
    }

    func test_rejectsBrokenHeaders_namingTheRule() {
        let cases: [(Data, String)] = [
            (Data([0, 0]), "fewer than the 4-byte magic"),
            (Data([1, 0, 8, 1]), "two zero bytes"),
            (Data([0, 0, 0x09, 1]), "element type 0x09 is not supported"),
            (Data([0, 0, 8, 2, 0, 0]), "ends inside it"),
            (Data([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]), "shape [5] needs 13 bytes but the file has 10"),
            // Found by fuzzing: sizes whose product overflows.
            (Data([0, 0, 8, 3, 0x27, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 1, 2]), "is larger than the 18-byte file can hold"),
        ]
        for (data, rule) in cases {
            XCTAssertThrowsError(try IDXArray.parse(data, file: "t.idx"), rule) {
                XCTAssertTrue(String(describing: $0).contains(rule), "expected «\(rule)» in «\($0)»")
            }
        }
    }

    func test_realMNIST_hasTheDocumentedLabelCounts() throws {
        let folder = sharedData.appendingPathComponent("mnist")
        let labelsURL = folder.appendingPathComponent("train-labels-idx1-ubyte.gz")
        guard FileManager.default.fileExists(atPath: labelsURL.path) else {
            throw XCTSkip("needs the real MNIST files in \(folder.path) (the project's ../shared/data); skipped")
        }
        let labels = try IDXArray.read(from: labelsURL)
        XCTAssertEqual(labels.shape, [60000])
        XCTAssertEqual(Array(labels.values.prefix(5)), [5, 0, 4, 1, 9])
        let counts = (0..<10).map { digit in labels.values.filter { $0 == Float(digit) }.count }
        XCTAssertEqual(counts, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
        let images = try IDXArray.read(from: folder.appendingPathComponent("t10k-images-idx3-ubyte.gz"))
        XCTAssertEqual(images.shape, [10000, 28, 28])
    }
}
