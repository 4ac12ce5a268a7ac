import Foundation
@testable import Invariance
import NN
import XCTest

/// Each image's turn from its nearest fellows (`PoseAlignment.synchronisedTurns`), with no
/// template, and the eigenvector that joins the pairs' relative turns (`leadingPhases`).
final class FellowTurnsTests: XCTestCase {
    /// Phases joined from every pair's relative turn come back exactly (up to their circular
    /// mean); with a tenth of the pairs' turns replaced by random ones, still within 0.15 rad.
    func test_leadingPhases_joinRelativeTurns_andAFewWrongPairsHardlyMoveThem() {
        var random = RandomGenerator(seed: 31)
        let m = 40
        let truth = (0..<m).map { _ in (random.nextFloat() * 2 - 1) * 1.2 }
        func centred(_ phases: [Float]) -> [Float] {
            let (c, s) = phases.reduce((Float(0), Float(0))) { ($0.0 + cos($1), $0.1 + sin($1)) }
            return phases.map { let d = $0 - atan2(s, c); return atan2(sin(d), cos(d)) }
        }
        for wrong in [0.0, 0.1] as [Float] {
            var real = [Double](repeating: 0, count: m * m), imaginary = real
            for a in 0..<m { for b in 0..<m where a != b {
                let r = random.nextFloat() < wrong ? (random.nextFloat() * 2 - 1) * .pi : truth[a] - truth[b]
                real[a * m + b] += Double(cos(r)); imaginary[a * m + b] += Double(sin(r))
                real[b * m + a] += Double(cos(r)); imaginary[b * m + a] -= Double(sin(r))
            } }
            let phases = PoseAlignment.leadingPhases(real: real, imaginary: imaginary, size: m)
            let worst = zip(phases, centred(truth)).map { abs(atan2(sin($0 - $1), cos($0 - $1))) }.max()!
            XCTAssertLessThan(worst, wrong == 0 ? 1e-4 : 0.15, "a tenth of the pairs wrong: \(wrong)")
        }
    }

    /// T shapes turned by multiples of 15° within ±60°, and T shapes upright, as two groups:
    /// the turned ones are found turned (few meet their nearest fellow upright), their turns
    /// concentrated, and each image's turn is its planted one (up to the group's mean), so that
    /// the images turned by them meet; the upright ones meet their fellows upright and read no turn.
    func test_fellowTurns_readEachImagesTurn_andFindAnUprightGroupUpright() throws {
        var random = RandomGenerator(seed: 32)
        let (size, count) = (16, 40)
        let planted = (0..<count).map { _ in Float(random.nextInt(below: 9) - 4) * .pi / 12 }
        let images = planted.flatMap { tShape(angle: $0, size: size, random: &random) }
            + (0..<count).flatMap { _ in tShape(angle: 0, size: size, random: &random) }
        let tensor = Tensor(shape: [2 * count, 1, size, size], values: images)
        let members = [0: Array(0..<count), 1: Array(count..<(2 * count))]
        let read = PoseAlignment.synchronisedTurns(tensor, members: members, turns: PoseAlignment.neighbourTurns)
        let (turned, upright) = (try XCTUnwrap(read[0]), try XCTUnwrap(read[1]))
        XCTAssertLessThan(turned.upright, 0.65, "T shapes turned within ±60° meet their nearest fellow turned")
        XCTAssertGreaterThanOrEqual(turned.concentration, PoseAlignment.concentratedTurns, "their turns lie within part of the circle")
        XCTAssertEqual(upright.upright, 1, "upright T shapes meet their nearest fellow upright")
        XCTAssertLessThan(upright.turns.map(abs).max()!, 1e-3, "and read no turn")
        for a in 0..<count { for b in 0..<count {
            let difference = abs(planted[a] - planted[b]) - abs(turned.turns[a] - turned.turns[b])
            XCTAssertEqual(difference, 0, accuracy: 0.02, "images \(a), \(b): planted \(planted[a]), \(planted[b])")
        } }
        // Turned by their turns, the images meet: each within a fifth of its distance as planted.
        let mask = Tensor(shape: [1, 6], values: AffineGenerator.allCases.map { 1 / $0.displacement })
        let eta = (0..<count).flatMap { i -> [Float] in [0, 0, turned.turns[i], 0, 0, 0] }
        let aligned = PoseAlignment.warped(Tensor(shape: [count, 1, size, size], values: Array(images[0..<(count * size * size)])), eta: eta, mask: mask)
        let reference = (0..<count).min { abs(planted[$0] - planted.reduce(0, +) / Float(count)) < abs(planted[$1] - planted.reduce(0, +) / Float(count)) }!
        func distance(_ x: ArraySlice<Float>, _ y: ArraySlice<Float>) -> Float { zip(x, y).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } }
        let plane = size * size
        for i in 0..<count where planted[i] != planted[reference] {
            let before = distance(images[(i * plane)..<((i + 1) * plane)], images[(reference * plane)..<((reference + 1) * plane)])
            let after = distance(aligned[(i * plane)..<((i + 1) * plane)], aligned[(reference * plane)..<((reference + 1) * plane)])
            XCTAssertLessThan(after, 0.2 * before, "image \(i), planted \(planted[i] * 180 / .pi)°")
        }
    }

    /// A class of T shapes turned within ±90° starts the alignment from its fellows' turns and
    /// is not taken for round; an upright class is not touched.
    func test_aTurnedClass_isSynchronised_andNotRound() throws {
        var random = RandomGenerator(seed: 33)
        let (size, count) = (16, 40)
        let images = (0..<count).flatMap { _ in tShape(angle: (random.nextFloat() * 2 - 1) * .pi / 2, size: size, random: &random) }
            + (0..<count).flatMap { _ in tShape(angle: (random.nextFloat() * 2 - 1) * .pi / 36, size: size, random: &random) }
        var alignment = PoseAlignment(estimated: [.translateX, .translateY, .rotation])
        alignment.stepsPerLevel = 10
        let groups = [Int](repeating: 0, count: count) + [Int](repeating: 1, count: count)
        let templates = try alignment.align(images, channels: 1, height: size, width: size, groups: groups).templates
        XCTAssertEqual(templates.synchronised, [0], "the turned class, not the upright one")
        XCTAssertEqual(templates.round, [], "neither is spread over the whole circle")
    }
}
