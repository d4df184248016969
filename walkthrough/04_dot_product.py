"""Step 4: the dot product, first in plain Python, then with NumPy.

a . b = a1*b1 + a2*b2 + ... + an*bn is exactly the inner loop of step 3, so a
neuron is dot(weights, inputs) + bias, and a layer is one dot product per row of
the weight matrix. NumPy's ``np.dot`` (or ``@``) does all the rows at once.
"""
import numpy as np

# What the tutorial printed for np.dot(weights, inputs) + biases and for weights @ inputs + biases.
TUTORIAL = {"layer_np_dot": [4.67, 2.93, 1.19], "layer_matmul": [4.67, 2.93, 1.19]}


def dot(a, b):
    """The dot product of two equally long lists."""
    return sum(x * y for x, y in zip(a, b))


def run() -> dict:
    # The neuron of step 1, once more.
    neuron = dot([2.5, 1.8, 0.7], [0.6, -0.4, 1.2]) + 0.8
    print("Step 1's neuron as dot(inputs, weights) + bias:", neuron)

    inputs = [2.1, 1.7, 3.3, 0.8]
    weights = [[0.5, -0.2, 0.9, -0.3],
               [0.7, 0.4, -0.6, 0.8],
               [-0.1, 0.6, 0.2, -0.7]]
    biases = [1.5, 2.2, 0.9]
    layer_python = [dot(neuron_weights, inputs) + bias
                    for neuron_weights, bias in zip(weights, biases)]
    print("Layer, one dot product per neuron:", layer_python)

    # NumPy: (3, 4) matrix . (4,) vector = (3,) vector, then add the biases element-wise.
    inputs, weights, biases = np.array(inputs), np.array(weights), np.array(biases)
    layer_np_dot = np.dot(weights, inputs) + biases
    layer_matmul = weights @ inputs + biases
    print("np.dot(weights, inputs) + biases:", layer_np_dot)
    print("weights @ inputs + biases:       ", layer_matmul)
    differ = [f"{numpy_value!r} against {python_value!r}" for numpy_value, python_value
              in zip(layer_np_dot.tolist(), layer_python) if numpy_value != python_value]
    print("(NumPy prints an array rounded to 8 decimals: 4.9399999999999995 shows as 4.94. "
          + (f"BLAS adds the products in its own way, so a value can differ in its last bit: "
             f"{'; '.join(differ)}.)" if differ else "The values are the loop's, bit for bit.)"))
    print(f"The tutorial printed {TUTORIAL['layer_np_dot']} for both; "
          f"the correct result is {np.round(layer_np_dot, 2).tolist()}.")
    return {"neuron": neuron, "layer_python": layer_python,
            "layer_np_dot": layer_np_dot, "layer_matmul": layer_matmul}


if __name__ == "__main__":
    run()
