@testable import Kernels
import XCTest

/// The short runs the convolutions pad and copy with: exactly `count` floats written, at any
/// alignment, nothing before or after.
final class VectorLoopsTests: XCTestCase {
    func test_copyFloatsAndZeroFloats_writeExactlyTheRun() {
        let source = (0..<64).map { Float($0 + 1) }
        for offset in 0..<3 {
            for count in 0...40 {
                var copied = [Float](repeating: .nan, count: count + 8)
                var zeroed = copied
                source.withUnsafeBufferPointer { from in
                    copied.withUnsafeMutableBufferPointer { copyFloats(from.baseAddress! + offset, to: $0.baseAddress! + 4, count: count) }
                }
                zeroed.withUnsafeMutableBufferPointer { zeroFloats($0.baseAddress! + 4, count: count) }
                for i in 0..<(count + 8) {
                    let inside = i >= 4 && i < 4 + count
                    XCTAssertEqual(copied[i].isNaN, !inside, "copyFloats of \(count) from offset \(offset), float \(i)")
                    XCTAssertEqual(zeroed[i].isNaN, !inside, "zeroFloats of \(count), float \(i)")
                    if inside {
                        XCTAssertEqual(copied[i], source[offset + i - 4])
                        XCTAssertEqual(zeroed[i], 0)
                    }
                }
            }
        }
    }
}
