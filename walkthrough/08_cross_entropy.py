"""Step 8: categorical cross-entropy, the loss of a classifier.

For each sample the loss is -log(probability the network gave to the true class);
the batch loss is the mean. Targets come as class indices ([0, 1, 2]) or one-hot
rows ([[1, 0, 0], ...]); both pick the same probabilities. Predictions are
clipped to [1e-7, 1 - 1e-7] first, because -log(0) is infinite.
"""
import numpy as np

# What the tutorial printed for these arrays.
TUTORIAL = {"loss": 0.385068885216884}


def categorical_crossentropy(y_pred, y_true):
    """Mean of -log(predicted probability of the true class), as in nnfs."""
    y_pred = np.clip(y_pred, 1e-7, 1 - 1e-7)
    if y_true.ndim == 1:  # class indices
        correct = y_pred[np.arange(len(y_pred)), y_true]
    else:  # one-hot rows
        correct = np.sum(y_pred * y_true, axis=1)
    return np.mean(-np.log(correct))


def run() -> dict:
    softmax_outputs = np.array([[0.7, 0.1, 0.2],
                                [0.1, 0.5, 0.4],
                                [0.02, 0.0, 0.98]])
    one_hot = np.array([[1, 0, 0],
                        [0, 1, 0],
                        [0, 0, 1]])
    indices = np.array([0, 1, 2])

    per_sample = -np.log(softmax_outputs[np.arange(3), indices])
    loss_one_hot = categorical_crossentropy(softmax_outputs, one_hot)
    loss_indices = categorical_crossentropy(softmax_outputs, indices)
    print("Per-sample losses:", per_sample)
    print("loss (one-hot targets):", loss_one_hot)
    print("loss (class indices):  ", loss_indices)
    # The mean happens to equal the first sample's loss: 0.5 * 0.98 = 0.49 = 0.7 ** 2, so the
    # three probabilities multiply to 0.7 ** 3 and the mean of their -logs is -log(0.7).
    print(f"(The mean equals the first sample's loss by coincidence: 0.7 x 0.5 x 0.98 = "
          f"{0.7 * 0.5 * 0.98:.3f} = 0.7^3, so the mean of the -logs is -log 0.7 = "
          f"{-np.log(0.7):.8f}.)")
    print(f"The tutorial printed {TUTORIAL['loss']}; the correct result is {loss_one_hot:.15f}.")

    # The printed number is close to the nnfs book's result for the book's own arrays.
    book_loss = categorical_crossentropy(np.array([[0.7, 0.1, 0.2],
                                                   [0.1, 0.5, 0.4],
                                                   [0.02, 0.9, 0.08]]), np.array([0, 1, 1]))
    print(f"(The nnfs book's arrays, with third row [0.02, 0.9, 0.08] and targets [0, 1, 1], "
          f"give {book_loss:.15f}.)")

    # Clipping at work: class 1 of the third sample has probability 0.0.
    clipped = categorical_crossentropy(softmax_outputs[2:], np.array([1]))
    print(f"\nIf the third sample were class 1: -log(clip(0.0)) = -log(1e-7) = {clipped:.4f}, "
          f"not infinity.")
    return {"per_sample": per_sample, "loss_one_hot": loss_one_hot, "loss_indices": loss_indices,
            "book_loss": book_loss, "clipped_loss": clipped}


if __name__ == "__main__":
    run()
