import Foundation
@testable import Invariance
import NN
import XCTest

final class PhotometricSpreadTests: XCTestCase {
    /// Two classes of three-channel 8×8 images (each class one picture of mid-range values on a
    /// black border, so nothing else varies), every copy adjusted by `planted` (full widths θ).
    /// `shuffled`: each copy's pixels then put in an order of its own (the same values and
    /// colours, so the same profiles and histograms, but no longer one picture: read by profiles).
    private func pictures(count: Int, planted: [PhotometricFamily: Float], seed: UInt64, shuffled: Bool = false) -> ImageDataset {
        var random = RandomGenerator(seed: seed)
        let (c, size) = (3, 8)
        let bases = (0..<2).map { _ in
            (0..<(c * size * size)).map { i -> Float in
                let (y, x) = ((i % (size * size)) / size, i % size)
                return y == 0 || x == 0 || y == size - 1 || x == size - 1 ? 0 : 40 + random.nextFloat() * 160
            }
        }
        let labels = (0..<count).map { $0 % 2 }
        let plain = labels.flatMap { bases[$0] }
        let images = PlantedTransformation([:], photometric: planted).apply(to: plain, channels: c, height: size, width: size, white: 255, random: &random)
        return ImageDataset(images: shuffled ? shuffledPixels(images, channels: c, plane: size * size, random: &random) : images,
                            channels: c, height: size, width: size, targets: labels.map(Float.init))
    }

    /// Each image's pixels (all channels alike) in a random order of its own.
    private func shuffledPixels(_ images: [Float], channels: Int, plane: Int, random: inout RandomGenerator) -> [Float] {
        stride(from: 0, to: images.count, by: channels * plane).flatMap { start -> [Float] in
            let order = random.permutation(plane)
            return (0..<channels).flatMap { c in order.map { images[start + c * plane + $0] } }
        }
    }

    private func read(_ data: ImageDataset, _ families: Set<PhotometricFamily> = Set(PhotometricFamily.allCases)) -> PhotometricSpread.Estimate {
        var random = RandomGenerator(seed: 4)
        var spread = PhotometricSpread(estimated: families)
        spread.images = 240
        // The values as they are (0…255) onto [0, 1]: gain 1/255, offset 0.
        return spread.estimate(data, gain: 1 / 255, offset: 0, group: SpreadEstimator.grouping(task: .classification(classes: 2), reference: []),
                               random: &random)
    }

    /// Each family planted alone reads back within 10% of its width, and the other two read as
    /// none (below ×1.05: θ < 0.1); nothing planted reads 0 everywhere.
    /// Pixel by pixel (each class one picture) and by profiles (the same pixels shuffled).
    func test_eachFamilyPlantedAlone_readsBack_andTheOthersReadNone() {
        for shuffled in [false, true] {
            for (family, theta) in [(PhotometricFamily.brightness, Float(0.4)), (.contrast, 0.5), (.gamma, 0.6)] {
                let estimate = read(pictures(count: 240, planted: [family: theta], seed: 1, shuffled: shuffled))
                XCTAssertEqual(estimate.widths[family]!, theta, accuracy: 0.1 * theta, "\(family) planted at θ \(theta), shuffled \(shuffled): \(estimate)")
                for other in PhotometricFamily.allCases where other != family {
                    XCTAssertLessThan(estimate.widths[other]!, 0.1, "\(other) not planted, beside \(family), shuffled \(shuffled): \(estimate)")
                }
                let band = estimate.bands[family]!
                XCTAssertTrue(band.lowerBound <= estimate.widths[family]! + 1e-4 && estimate.widths[family]! <= band.upperBound + 0.05 * theta,
                              "the band surrounds the reading: \(band)")
            }
            let none = read(pictures(count: 120, planted: [:], seed: 2, shuffled: shuffled))
            for family in PhotometricFamily.allCases { XCTAssertLessThan(none.widths[family]!, 0.02, "\(family), shuffled \(shuffled): \(none)") }
        }
    }

    /// Saturation and hue planted alone read back (hue within ±60° within 10%, and over the whole
    /// circle as the whole circle; saturation ×0.74–×1.35 within 10%), the others as none.
    /// Pixel by pixel and by profiles, as above.
    func test_saturationAndHue_plantedAlone_readBack_andTheOthersReadNone() {
        for shuffled in [false, true] {
            for (family, theta, tolerance) in [(PhotometricFamily.hue, Float(2 * Float.pi / 3), Float(0.1)), (.hue, 2 * .pi, 0.05), (.saturation, 0.6, 0.1)] {
                let estimate = read(pictures(count: 240, planted: [family: theta], seed: 11, shuffled: shuffled))
                XCTAssertEqual(estimate.widths[family]!, theta, accuracy: tolerance * theta, "\(family) planted at θ \(theta), shuffled \(shuffled): \(estimate)")
                XCTAssertGreaterThan(estimate.gains[family]!, 0.8, "the reading follows a known change")
                for other in PhotometricFamily.allCases where other != family {
                    XCTAssertLessThan(estimate.widths[other]!, 0.1, "\(other) not planted, beside \(family) θ \(theta), shuffled \(shuffled): \(estimate)")
                }
            }
        }
    }

    /// A class is one picture when one member, adjusted, explains the others pixel by pixel: the
    /// pictures are (whatever is planted), the same pixels shuffled are not, nor strokes that
    /// differ from image to image.
    func test_onePicture_isDecidedByThePixelFit() {
        let spread = PhotometricSpread(estimated: Set(PhotometricFamily.allCases))
        let decide = { (data: ImageDataset) -> [Int: Int]? in
            let size = data.channels * data.height * data.width
            return spread.onePictureReferences({ i in data.images[(i * size)..<((i + 1) * size)].map { $0 / 255 } }, count: data.count,
                                               channels: data.channels, plane: data.height * data.width, groups: data.targets.map { Int($0) })
        }
        for planted in [[:], [PhotometricFamily.brightness: Float(0.6), .saturation: 0.8, .hue: 1]] {
            let references = decide(pictures(count: 60, planted: planted, seed: 41))
            XCTAssertEqual(references.map { Set($0.keys) }, [0, 1], "one picture a class, \(planted) planted")
            XCTAssertNil(decide(pictures(count: 60, planted: planted, seed: 41, shuffled: true)), "shuffled, \(planted) planted")
        }
        XCTAssertNil(decide(twoColours(count: 60, brightness: 0.67, seed: 42)), "two flat colours show too few values to tell five families apart")
    }

    /// Vivid colours saturated within ×1.5 clip at white and black. Pixel by pixel against one
    /// member, a clipped value is matched by a prediction clipped alike, and nothing but the
    /// saturation reads (θ 0.778 for 0.811 when written, the others 0); by profiles (the same
    /// pixels shuffled), each image's saturation undone first cannot give back what the clip
    /// took, and it reads as a change of the values (contrast θ 0.26, gamma 0.33, brightness
    /// 0.10, hue 0.27 when written; the sprites read brightness 0.26–0.32 and contrast
    /// 0.27–0.34 so, docs/performance.md, session 39).
    func test_saturationClippedAtWhite_readsNoValueChange_pixelByPixel() {
        var random = RandomGenerator(seed: 43)
        let (size, plane) = (8, 64)
        // Twelve vivid colours: one channel high, one low, one between, in every order.
        let colours = (0..<12).map { k -> [Float] in
            var colour = [200 + random.nextFloat() * 50, 20 + random.nextFloat() * 30, 60 + random.nextFloat() * 120]
            if k % 2 == 1 { colour.swapAt(1, 2) }
            return (0..<3).map { colour[($0 + k / 2) % 3] }
        }
        let bases = (0..<2).map { k in
            (0..<3).flatMap { c in
                (0..<plane).map { i -> Float in
                    let (y, x) = (i / size, i % size)
                    return y == 0 || x == 0 || y == size - 1 || x == size - 1 ? 0 : colours[(x + 3 * y + 5 * k) % 12][c]
                }
            }
        }
        let labels = (0..<240).map { $0 % 2 }
        let theta = 2 * Float(Foundation.log(1.5))
        let images = PlantedTransformation([:], photometric: [.saturation: theta]).apply(to: labels.flatMap { bases[$0] }, channels: 3, height: size,
                                                                                         width: size, white: 255, random: &random)
        XCTAssertGreaterThan(images.filter { $0 >= 254.5 }.count, 240, "colours clip at white")
        let data = ImageDataset(images: images, channels: 3, height: size, width: size, targets: labels.map(Float.init))
        let estimate = read(data)
        XCTAssertEqual(estimate.widths[.saturation]!, theta, accuracy: 0.1 * theta, "\(estimate)")
        for family in [PhotometricFamily.brightness, .contrast, .gamma, .hue] {
            XCTAssertLessThan(estimate.widths[family]!, 0.1, "\(family) not planted: \(estimate)")
        }
        let byProfiles = read(ImageDataset(images: shuffledPixels(images, channels: 3, plane: plane, random: &random), channels: 3, height: size,
                                           width: size, targets: labels.map(Float.init)))
        XCTAssertGreaterThan(max(byProfiles.widths[.brightness]!, byProfiles.widths[.contrast]!), 0.1, "by profiles: \(byProfiles)")
    }

    /// An image's hue pose against another's is the turn between their hue histograms: it
    /// follows a turn of the hue, and does not move when a saturation clipped at the channels'
    /// ends changes how much each of two colours weighs (their chroma-weighted mean angle does).
    func test_hueTurn_followsATurn_notAClippedSaturation() {
        // A red and a blue-green half on a black border, 6×6.
        let size = 6, plane = size * size
        let colours: [[Float]] = [[0.86, 0.12, 0.12], [0.15, 0.45, 0.65]]
        let image = (0..<3).flatMap { c in
            (0..<plane).map { i -> Float in
                let (y, x) = (i / size, i % size)
                return y == 0 || x == 0 || y == size - 1 || x == size - 1 ? 0 : colours[x < size / 2 ? 0 : 1][c]
            }
        }
        let adjust = { (family: PhotometricFamily, epsilon: Float) -> [Float] in
            transform(Tensor(shape: [1, 3, size, size], values: image), by: family, epsilon: epsilon, gain: 1, offset: 0).values
        }
        let histogram = PhotometricSpread.hueHistogram(image, plane: plane)!
        for turn in [Float(0.5), -2.5, 3.0] {
            let turned = PhotometricSpread.hueHistogram(adjust(.hue, turn), plane: plane)!
            let read = PhotometricSpread.hueTurn(of: turned, from: histogram)
            XCTAssertEqual(Double(atan2(sin(read - turn), cos(read - turn))), 0, accuracy: 0.01, "turned by \(turn), read \(read)")
        }
        let saturated = adjust(.saturation, Foundation.log(1.5))
        XCTAssertEqual(saturated.max()!, 1, "the red clips at 1")
        XCTAssertEqual(Double(PhotometricSpread.hueTurn(of: PhotometricSpread.hueHistogram(saturated, plane: plane)!, from: histogram)), 0, accuracy: 0.01)
        let meanMoved = meanHueAngle(saturated, plane: plane) - meanHueAngle(image, plane: plane)
        XCTAssertGreaterThan(abs(atan2(sin(meanMoved), cos(meanMoved))), 0.1, "the mean angle moves under the clipped saturation")
    }

    /// The angle of the pixels' hues averaged on the circle, each weighted by its chroma (what the
    /// reading used before the histograms, kept here to show what they mend).
    private func meanHueAngle(_ image: [Float], plane: Int) -> Float {
        var (x, y) = (0.0, 0.0)
        for i in 0..<plane {
            guard let (sixths, chroma) = PhotometricSpread.pixelHue(image[i], image[plane + i], image[2 * plane + i]) else { continue }
            x += Double(chroma) * cos(Double(sixths) * .pi / 3)
            y += Double(chroma) * sin(Double(sixths) * .pi / 3)
        }
        return Float(atan2(y, x))
    }

    /// One class of 8×8 sprites of two flat colours (red, blue-green) on a black border, each
    /// brightened by a factor uniform within θ `brightness` (many clip at white).
    private func twoColours(count: Int, brightness: Float, seed: UInt64) -> ImageDataset {
        let size = 8, plane = size * size
        var random = RandomGenerator(seed: seed)
        let colours: [[Float]] = [[230, 40, 40], [60, 200, 240]]
        let base = (0..<3).flatMap { c in
            (0..<plane).map { i -> Float in
                let (y, x) = (i / size, i % size)
                return y == 0 || x == 0 || y == size - 1 || x == size - 1 ? 0 : colours[x < size / 2 ? 0 : 1][c]
            }
        }
        let images = PlantedTransformation([:], photometric: [.brightness: brightness]).apply(to: Array((0..<count).map { _ in base }.joined()),
                                                                                               channels: 3, height: size, width: size, white: 255,
                                                                                               random: &random)
        return ImageDataset(images: images, channels: 3, height: size, width: size, targets: [Float](repeating: 0, count: count))
    }

    /// Sprites of two flat colours brightened within ±40% (many clipped at white) read no hue:
    /// each image's hue against its class's is the turn between their histograms, which clipping
    /// reweighs but does not move (their chroma-weighted mean angles spread by 70°).
    func test_brighteningClippedAtWhite_readsNoHue() {
        let size = 8, plane = size * size
        let count = 120
        let data = twoColours(count: count, brightness: 0.67, seed: 31)
        let images = data.images
        let imageOnUnit = { (i: Int) -> [Float] in images[(i * 3 * plane)..<((i + 1) * 3 * plane)].map { $0 / 255 } }
        // The range of angles on the circle, each taken against the first.
        let spread = { (angles: [Float]) -> Float in
            let turns = angles.map { atan2(sin($0 - angles[0]), cos($0 - angles[0])) }
            return turns.max()! - turns.min()!
        }
        let means = (0..<count).map { meanHueAngle(imageOnUnit($0), plane: plane) }
        XCTAssertGreaterThan(spread(means), 0.5, "the mean angle moves with the clipping (1.23 rad when written)")
        let hues = PhotometricSpread.huesAgainstClass(imageOnUnit, count: count, plane: plane, groups: [Int](repeating: 0, count: count))
        // A clipped channel moves a pixel's hue a little (the blue-green's green and blue both clip): 0.044 rad when written.
        XCTAssertLessThan(spread(hues.map { $0! }), 0.1, "each image's hue against the class's first")
        let estimate = read(data, [.brightness, .contrast, .gamma, .hue, .saturation])
        XCTAssertLessThan(estimate.widths[.hue]!, PhotometricSpread.hueSeen, "hue: \(estimate)")
        XCTAssertEqual(estimate.widths[.brightness]!, 0.67, accuracy: 0.1 * 0.67, "brightness: \(estimate)")
    }

    /// Classes that differ by their hue alone (one picture turned by 120° and 240°), each with a
    /// little of its own (±10°): the reading is the spread within a class, not between them.
    func test_hueThatIsTheClass_readsOnlyTheSpreadWithinAClass() {
        var random = RandomGenerator(seed: 12)
        let base = pictures(count: 1, planted: [:], seed: 13).images
        let labels = (0..<240).map { $0 % 3 }
        let turned = labels.flatMap { label in
            TensorContext.withoutGradients {
                transform(Tensor(shape: [1, 3, 8, 8], values: base), by: .hue, epsilon: Float(label) * 2 * .pi / 3, gain: 1 / 255, offset: 0).values
            }
        }
        let jittered = PlantedTransformation([:], photometric: [.hue: 20 * .pi / 180]).apply(to: turned, channels: 3, height: 8, width: 8, white: 255, random: &random)
        var spread = PhotometricSpread(estimated: [.hue])
        spread.images = 240
        var readRandom = RandomGenerator(seed: 4)
        let estimate = spread.estimate(ImageDataset(images: jittered, channels: 3, height: 8, width: 8, targets: labels.map(Float.init)), gain: 1 / 255, offset: 0,
                                       group: SpreadEstimator.grouping(task: .classification(classes: 3), reference: []), random: &readRandom)
        XCTAssertEqual(estimate.widths[.hue]!, 20 * .pi / 180, accuracy: 0.1 * 20 * .pi / 180, "\(estimate)")
    }

    /// One channel has no colour: saturation and hue read 0 with no gain, whatever is asked.
    func test_oneChannel_readsNoColour() {
        var random = RandomGenerator(seed: 14)
        let images = (0..<(60 * 64)).map { _ in random.nextFloat() * 255 }
        var spread = PhotometricSpread(estimated: Set(PhotometricFamily.allCases))
        spread.images = 60
        let estimate = spread.estimate(ImageDataset(images: images, channels: 1, height: 8, width: 8, targets: (0..<60).map { Float($0 % 2) }),
                                       gain: 1 / 255, offset: 0, group: SpreadEstimator.grouping(task: .classification(classes: 2), reference: []),
                                       random: &random)
        XCTAssertEqual(estimate.widths[.hue], 0)
        XCTAssertEqual(estimate.widths[.saturation], 0)
    }

    /// Families not estimated read 0 and have no band, whatever is planted.
    func test_familiesNotEstimated_readZero() {
        let estimate = read(pictures(count: 120, planted: [.gamma: 0.6, .brightness: 0.4], seed: 3), [.gamma])
        XCTAssertEqual(estimate.widths[.brightness], 0)
        XCTAssertNil(estimate.bands[.brightness])
        XCTAssertGreaterThan(estimate.widths[.gamma]!, 0.3)
    }

    /// A profile is each channel's darkest value and the quantiles of the rest: the size of the
    /// ink does not move them (a wider stroke of the same values reads the same), its values do.
    func test_profile_dependsOnTheInksValues_notOnHowMuchInkThereIs() {
        // Half the ink at 0.5 and half at 1 on a black plane: 8 pixels of ink in 64, or 16.
        let thin = [Double](repeating: 0, count: 56) + [Double](repeating: 0.5, count: 4) + [Double](repeating: 1, count: 4)
        let wide = [Double](repeating: 1, count: 8) + [Double](repeating: 0, count: 48) + [Double](repeating: 0.5, count: 8)
        let a = PhotometricSpread.profile(thin, channels: 1), b = PhotometricSpread.profile(wide, channels: 1)
        XCTAssertEqual(a.values.count, 1 + PhotometricSpread.inkQuantiles)
        XCTAssertEqual(a.values[0], 0)
        let apart = zip(a.values, b.values).map { abs($0 - $1) }.reduce(0, +) / Double(a.values.count)
        XCTAssertLessThan(apart, 0.01, "the two profiles differ by \(apart) on average")
        let sorted = PhotometricSpread.profile(thin.sorted(), channels: 1)
        XCTAssertEqual(sorted.values, a.values, "where the pixels lie does not matter")
        let darker = PhotometricSpread.profile(thin.map { $0 * 0.8 }, channels: 1)
        XCTAssertEqual(darker.values.last!, 0.8 * a.values.last!, accuracy: 1e-9)
    }

    /// Where the families can be told apart (mid-range values on a black border, all three
    /// planted), a known change of one moves its own fit and hardly another: the pairs' responses
    /// are the identity within 0.15 on the diagonal (the gains) and 0.3 off it (measured: at most
    /// 0.12 pixel by pixel, 0.23 by profiles on the same pixels shuffled; a slope on one family's
    /// δ carries the other two's changes as noise, about 1/√240, and contrast's clamps move the
    /// others a little). A family not estimated has no row nor column.
    func test_responses_whereTheFamiliesCanBeToldApart_areTheIdentity() {
        for shuffled in [false, true] {
            let estimate = read(pictures(count: 240, planted: [.brightness: 0.4, .contrast: 0.4, .gamma: 0.4], seed: 5, shuffled: shuffled))
            let values: [PhotometricFamily] = [.brightness, .contrast, .gamma]
            for k in values {
                for j in values {
                    let response = estimate.responses[k]![j]!
                    if j == k {
                        XCTAssertEqual(response, estimate.gains[k]!, "\(k): the diagonal is the gain")
                        XCTAssertEqual(response, 1, accuracy: 0.15, "\(k) per unit of its own δ, shuffled \(shuffled): \(estimate.responses)")
                    } else {
                        XCTAssertEqual(response, 0, accuracy: 0.3, "\(k) per unit of \(j)'s δ, shuffled \(shuffled): \(estimate.responses)")
                    }
                }
            }
            XCTAssertNil(estimate.responses[.hue])
        }
        let alone = read(pictures(count: 120, planted: [.contrast: 0.4], seed: 5), [.contrast, .gamma])
        XCTAssertEqual(Set(alone.responses.keys), [.contrast, .gamma])
        XCTAssertEqual(Set(alone.responses[.contrast]!.keys), [.contrast, .gamma])
    }

    /// Thin bright strokes on black, a different stroke in every image (MNIST's kind of image:
    /// a small mean m, so raising contrast by δ is brightening by δ less m·δ): a known change of
    /// contrast moves the brightness fit by more than 0.4 of it (measured 0.52, about as much as
    /// its own fit, 0.50; MNIST itself reads 0.58 and 0.77 against 0.28 and 0.30).
    func test_responses_onStrokesOnBlack_readContrastAsBrightness() {
        var random = RandomGenerator(seed: 21)
        let size = 12
        let images = (0..<200).flatMap { _ -> [Float] in
            var image = [Float](repeating: 0, count: size * size)
            let (row, start, length) = (2 + Int(random.nextFloat() * 8), Int(random.nextFloat() * 4), 4 + Int(random.nextFloat() * 6))
            for x in start..<min(size, start + length) {
                image[row * size + x] = 255
                image[(row + 1) * size + x] = 60 + random.nextFloat() * 150
                image[(row - 1) * size + x] = 10 + random.nextFloat() * 60
            }
            return image
        }
        var spread = PhotometricSpread(estimated: [.brightness, .contrast, .gamma])
        spread.images = 200
        var readRandom = RandomGenerator(seed: 4)
        let estimate = spread.estimate(ImageDataset(images: images, channels: 1, height: size, width: size, targets: (0..<200).map { Float($0 % 2) }),
                                       gain: 1 / 255, offset: 0, group: SpreadEstimator.grouping(task: .classification(classes: 2), reference: []),
                                       random: &readRandom)
        XCTAssertGreaterThan(estimate.responses[.brightness]![.contrast]!, 0.4, "\(estimate.responses)")
    }

    /// A family is not told apart from another whose fit its known change moves as much as its
    /// own, and by a quarter of it at least (less is not seeing it): MNIST's contrast row.
    func test_notToldApart_namesTheFitsAChangeMovesAsMuchAsItsOwn() {
        var estimate = PhotometricSpread.Estimate()
        estimate.responses = [.brightness: [.brightness: 1.20, .contrast: 0.58, .gamma: -0.01],
                              .contrast: [.brightness: -0.20, .contrast: 0.28, .gamma: 0.05],
                              .gamma: [.brightness: 0.52, .contrast: 0.33, .gamma: 0.82]]
        XCTAssertEqual(estimate.notToldApart(.contrast), [.brightness, .gamma])
        XCTAssertEqual(estimate.notToldApart(.brightness), [], "gamma's 0.52 is less than brightness's own 1.20")
        XCTAssertEqual(estimate.notToldApart(.gamma), [])
        estimate.responses[.contrast]![.contrast] = 0.1
        estimate.responses[.brightness]![.contrast] = 0.2
        estimate.responses[.gamma]![.contrast] = 0.1
        XCTAssertEqual(estimate.notToldApart(.contrast), [], "responses under 0.25 see nothing")
        XCTAssertEqual(estimate.notToldApart(.hue), [], "no row, nothing to say")
    }

    /// The squares' intercept is what the δ do not explain: r² = 0.01 + 4·δ₀² + 0·δ₁².
    func test_interceptOfSquares_separatesTheErrorFromWhatGrowsWithDelta() {
        var random = RandomGenerator(seed: 6)
        let deltas = (0..<400).map { _ in [Double(random.nextFloat() - 0.5), Double(random.nextFloat() - 0.5), 0] }
        let squares = deltas.map { 0.01 + 4 * $0[0] * $0[0] }
        XCTAssertEqual(PhotometricSpread.interceptOfSquares(squares, on: deltas), 0.01, accuracy: 1e-9)
    }
}
