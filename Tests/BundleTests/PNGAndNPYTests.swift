import CZlib
import Foundation
import TestSupport
import XCTest
@testable import Bundle

/// A small PNG writer for the tests: any colour type and depth, a chosen filter per row, and
/// optional Adam7 interlacing, so the decoder meets every path.
func makePNG(width: Int, height: Int, color: UInt8, depth: Int, samples: [[Int]], palette: [UInt8] = [], interlaced: Bool = false, filters: [UInt8] = [0, 1, 2, 3, 4]) -> Data {
    let perPixel = [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][Int(color)]!
    let bitsPerPixel = perPixel * depth, bytesPerPixel = max(1, bitsPerPixel / 8)
    let passes: [(Int, Int, Int, Int)] = interlaced ? [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)] : [(0, 0, 1, 1)]
    var raw: [UInt8] = [], rowNumber = 0
    for (x0, y0, dx, dy) in passes {
        let w = (width - x0 + dx - 1) / dx, h = (height - y0 + dy - 1) / dy
        guard w > 0 && h > 0 else { continue }
        let stride = (w * bitsPerPixel + 7) / 8
        var previous = [UInt8](repeating: 0, count: stride)
        for row in 0..<h {
            var line = [UInt8](repeating: 0, count: stride)
            for col in 0..<w {
                let pixel = samples[(y0 + row * dy) * width + x0 + col * dx]
                for k in 0..<perPixel {
                    if depth == 16 { line[(col * perPixel + k) * 2] = UInt8(pixel[k] >> 8); line[(col * perPixel + k) * 2 + 1] = UInt8(pixel[k] & 255) }
                    else if depth == 8 { line[col * perPixel + k] = UInt8(pixel[k]) }
                    else { let bit = col * depth; line[bit / 8] |= UInt8(pixel[0] << (8 - depth - bit % 8)) }
                }
            }
            let filter = filters[rowNumber % filters.count]
            rowNumber += 1
            raw.append(filter)
            for i in 0..<stride {
                let a = i >= bytesPerPixel ? Int(line[i - bytesPerPixel]) : 0, b = Int(previous[i]), c = i >= bytesPerPixel ? Int(previous[i - bytesPerPixel]) : 0
                let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                let predictor = [0, a, b, (a + b) / 2, pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)][Int(filter)]
                raw.append(UInt8(truncatingIfNeeded: Int(line[i]) - predictor))
            }
            previous = line
        }
    }
    func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
        let typed = Array(type.utf8) + body
        let crc = UInt32(typed.withUnsafeBufferPointer { crc32(0, $0.baseAddress, UInt32($0.count)) })
        return [UInt8(body.count >> 24 & 255), UInt8(body.count >> 16 & 255), UInt8(body.count >> 8 & 255), UInt8(body.count & 255)] + typed
            + [UInt8(crc >> 24), UInt8(crc >> 16 & 255), UInt8(crc >> 8 & 255), UInt8(crc & 255)]
    }
    let ihdr: [UInt8] = [0, 0, UInt8(width >> 8), UInt8(width & 255), 0, 0, UInt8(height >> 8), UInt8(height & 255), UInt8(depth), color, 0, 0, interlaced ? 1 : 0]
    var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", ihdr)
    if !palette.isEmpty { png += chunk("PLTE", palette) }
    png += chunk("IDAT", Gzip.zlibCompress(raw)) + chunk("IEND", [])
    return Data(png)
}

final class PNGTests: XCTestCase {
    func test_everyColourTypeAndDepth_plainAndInterlaced() throws {
        let (w, h) = (11, 7)
        var random = TestRandom(seed: 3)
        for (color, depths) in [(UInt8(0), [1, 2, 4, 8, 16]), (2, [8, 16]), (3, [1, 2, 4, 8]), (4, [8, 16]), (6, [8, 16])] {
            for depth in depths {
                for interlaced in [false, true] {
                    let perPixel = [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][Int(color)]!
                    let top = color == 3 ? min(3, (1 << depth) - 1) : (1 << depth) - 1
                    let samples = (0..<(w * h)).map { _ in (0..<perPixel).map { _ in random.below(top + 1) } }
                    let palette: [UInt8] = color == 3 ? [10, 20, 30, 40, 50, 60, 70, 80, 90, 200, 210, 220] : []
                    let image = try PNG.decode(makePNG(width: w, height: h, color: color, depth: depth, samples: samples, palette: palette, interlaced: interlaced),
                                               file: "t.png")
                    let channels = (color == 0 || color == 4) ? 1 : 3
                    XCTAssertEqual([image.channels, image.height, image.width], [channels, h, w])
                    var expected = [Float](repeating: 0, count: channels * w * h)
                    for p in 0..<(w * h) {
                        for k in 0..<channels {
                            let value: Float
                            if color == 3 { value = Float(palette[samples[p][0] * 3 + k]) }
                            else if depth == 16 { value = Float(samples[p][k]) / 257 }
                            else { value = Float(samples[p][k]) * 255 / Float(top) }
                            expected[k * w * h + p] = value
                        }
                    }
                    assertClose(image.values, expected, atol: 1e-3, rtol: 0, "colour \(color) depth \(depth) interlaced \(interlaced)")
                }
            }
        }
    }

    func test_brokenImages_areRejectedWithTheRule() {
        let good = makePNG(width: 4, height: 4, color: 0, depth: 8, samples: (0..<16).map { [$0] })
        var badCRC = good
        badCRC[20] ^= 1
        let cases: [(Data, String)] = [
            (Data("GIF89a".utf8), "signature"),
            (badCRC, "CRC of chunk IHDR"),
            (good.prefix(good.count - 12), "no IEND"),
            (makePNG(width: 4, height: 4, color: 2, depth: 4, samples: (0..<16).map { _ in [1, 1, 1] }), "not allowed"),
        ]
        for (data, rule) in cases {
            XCTAssertThrowsError(try PNG.decode(data, file: "x.png"), rule) { XCTAssertTrue(String(describing: $0).contains(rule), "expected «\(rule)» in «\($0)»") }
        }
    }
}

final class NPYTests: XCTestCase {
    func test_roundTrip_andEveryDtypeNumPyWrites() throws {
        let encoded = NPY.encode(shape: [2, 3], values: [1, 2, 3, 4, 5, 6.5])
        XCTAssertEqual(try NPY.parse(encoded, file: "a.npy"), IDXArray(shape: [2, 3], values: [1, 2, 3, 4, 5, 6.5]))
        // Headers as numpy writes them (version 1.0), hand-assembled for each dtype.
        func npy(_ descr: String, _ shape: String, _ body: [UInt8]) -> Data {
            var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
            while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
            header += "\n"
            return Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(header.utf8.count & 255), UInt8(header.utf8.count >> 8)]) + Data(header.utf8) + Data(body)
        }
        XCTAssertEqual(try NPY.parse(npy("|u1", "(3,)", [0, 7, 255]), file: "u.npy").values, [0, 7, 255])
        XCTAssertEqual(try NPY.parse(npy("<f8", "(1,)", withUnsafeBytes(of: (2.5).bitPattern.littleEndian, Array.init)), file: "d.npy").values, [2.5])
        XCTAssertEqual(try NPY.parse(npy("<i8", "(1, 1)", withUnsafeBytes(of: Int64(-4).littleEndian, Array.init)), file: "i.npy").shape, [1, 1])
        XCTAssertThrowsError(try NPY.parse(npy("<i2", "(1,)", [0, 0]), file: "s.npy")) { XCTAssertTrue("\($0)".contains("dtype '<i2' is not supported"), "\($0)") }
        XCTAssertThrowsError(try NPY.parse(npy("<f4", "(5,)", [0, 0, 0, 0]), file: "f.npy")) { XCTAssertTrue("\($0)".contains("needs 20 bytes"), "\($0)") }
        // Found by fuzzing: sizes whose product overflows.
        XCTAssertThrowsError(try NPY.parse(npy("<f4", "(4000000000000, 4000000000000)", []), file: "o.npy")) {
            XCTAssertTrue("\($0)".contains("is larger than the"), "\($0)")
        }
    }

    func test_readsFilesWrittenByNumPy() throws {
        let folder = try makeScratchFolder("npy")
        defer { try? FileManager.default.removeItem(at: folder) }
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", "-c", "import numpy as np, sys; np.save(sys.argv[1], np.arange(24, dtype=np.float32).reshape(2, 3, 4))",
                            folder.appendingPathComponent("a.npy").path]
        python.standardError = FileHandle.nullDevice
        guard (try? python.run()) != nil else { throw XCTSkip("needs python3 with numpy; skipped") }
        python.waitUntilExit()
        guard python.terminationStatus == 0 else { throw XCTSkip("needs python3 with numpy; skipped") }
        let array = try NPY.parse(Data(contentsOf: folder.appendingPathComponent("a.npy")), file: "a.npy")
        XCTAssertEqual(array.shape, [2, 3, 4])
        XCTAssertEqual(array.values, (0..<24).map(Float.init))
    }
}

final class PNGEncodeTests: XCTestCase {
    func test_encode_thenDecode_givesThePixelsBack_forGreyAndRGB() throws {
        for channels in [1, 3] {
            let (w, h) = (7, 5)
            let pixels = (0..<(w * h * channels)).map { UInt8(($0 * 37) % 256) }
            let image = try PNG.decode(PNG.encode(width: w, height: h, channels: channels, pixels: pixels), file: "x.png")
            XCTAssertEqual([image.channels, image.height, image.width], [channels, h, w])
            // decode returns channel-first planes; encode takes channel-last pixels.
            for y in 0..<h { for x in 0..<w { for k in 0..<channels {
                XCTAssertEqual(image.values[(k * h + y) * w + x], Float(pixels[(y * w + x) * channels + k]))
            } } }
        }
    }
}
