import Foundation
import XCTest
@testable import Invariance
@testable import NN

final class PhotometricAugmentationTests: XCTestCase {
    /// Raw values 0…255 standardised with mean 100 and std 60 (MNIST-like bytes).
    func augmentation(_ learned: Set<PhotometricFamily>, _ widths: [PhotometricFamily: Float]) -> PhotometricAugmentation {
        PhotometricAugmentation(learned: learned, initialWidths: widths, mean: 100, std: 60, low: 0, high: 255)
    }

    func test_factors_spanTheirWidth_andUnlearnedFamiliesStayAtOne() {
        let photometric = augmentation([.brightness, .gamma, .hue], [.brightness: 0.4, .gamma: 1.2, .contrast: 0.9, .hue: 2])
        XCTAssertEqual(photometric.widthValues[.contrast], 0, "not learned: θ = 0 whatever it was given")
        XCTAssertEqual(photometric.widthValues[.brightness]!, 0.4, accuracy: 1e-6)
        var random = RandomGenerator(seed: 7)
        let f = TensorContext.withoutGradients { photometric.sampleFactors(count: 400, random: &random).values }
        for (family, theta) in [(PhotometricFamily.brightness, 0.4), (.gamma, 1.2)] {
            let logs = (0..<400).map { Double(log(f[$0 * 5 + family.index])) }
            XCTAssertLessThanOrEqual(logs.map(abs).max()!, theta / 2 + 1e-5, "\(family): ε within ±θ/2")
            XCTAssertGreaterThan(logs.max()!, 0.9 * theta / 2, "\(family): samples reach the top of the interval")
            XCTAssertLessThan(logs.min()!, -0.9 * theta / 2, "\(family): and its bottom")
        }
        XCTAssertTrue((0..<400).allSatisfy { f[$0 * 5 + PhotometricFamily.contrast.index] == 1 && f[$0 * 5 + PhotometricFamily.saturation.index] == 1 })
        // Hue is drawn as the turn ε itself, within ±θ/2 radians.
        let turns = (0..<400).map { f[$0 * 5 + PhotometricFamily.hue.index] }
        XCTAssertLessThanOrEqual(turns.map(abs).max()!, 1 + 1e-5)
        XCTAssertGreaterThan(turns.max()!, 0.9)
        XCTAssertLessThan(turns.min()!, -0.9)
        let range = PhotometricFamily.factorRange(theta: 0.4)
        XCTAssertEqual(range.low * range.high, 1, accuracy: 1e-12)
        XCTAssertEqual(range.high, exp(0.2), accuracy: 1e-12)
    }

    /// A brightness factor scales the raw values: the adjusted standardised image, mapped back to
    /// bytes, is the original's bytes times the factor (no clamp reached here).
    func test_brightness_scalesTheRawValues() {
        let photometric = augmentation([.brightness], [.brightness: 0.6])
        let raw: [Float] = [0, 20, 50, 90, 120, 150, 180, 200]
        let x = Tensor(shape: [1, 1, 2, 4], values: raw.map { ($0 - 100) / 60 })
        var random = RandomGenerator(seed: 8)
        var draw = random
        let factor = TensorContext.withoutGradients { photometric.sampleFactors(count: 1, random: &draw).values[0] }
        let y = TensorContext.withoutGradients { photometric(x, random: &random).values }
        for (value, adjusted) in zip(raw, y) {
            XCTAssertEqual(adjusted * 60 + 100, value * factor, accuracy: 1e-3)
        }
        XCTAssertNotEqual(factor, 1)
    }

    func test_gradientFlowsIntoTheWidths_matchingFiniteDifferences() {
        let photometric = augmentation(Set(PhotometricFamily.allCases), [.brightness: 0.3, .contrast: 0.25, .gamma: 0.35, .saturation: 0.3, .hue: 0.8])
        var imageRandom = RandomGenerator(seed: 4)
        // Raw values 70…130 of 255, three channels: no clamp is reached by these factors.
        let x = Tensor(shape: [3, 3, 5, 5], values: (0..<225).map { _ in imageRandom.nextFloat(in: -0.5..<0.5) })
        let g = Tensor(shape: [3, 3, 5, 5], values: (0..<225).map { _ in imageRandom.nextFloat(in: -1..<1) })
        func loss() -> Tensor {
            var random = RandomGenerator(seed: 9)  // the same samples u every time
            return (photometric(x, random: &random) * g).sum()
        }
        assertWidthGradientsMatchFiniteDifferences(photometric.rawWidths, names: PhotometricFamily.allCases.map(\.rawValue), step: 1e-2, loss)
    }
}
