"""Step 1: a single neuron.

A neuron multiplies each input by its own weight, adds the products up and adds
its bias. Plain Python: lists and floats. The numbers are the tutorial's
("Coding our first neuron: 3 inputs" and "... 4 inputs").
"""

# What the tutorial printed for the same code.
TUTORIAL = {"three_inputs": 2.54, "four_inputs": 2.89}


def run() -> dict:
    inputs = [2.5, 1.8, 0.7]
    weights = [0.6, -0.4, 1.2]
    bias = 0.8
    three_inputs = inputs[0] * weights[0] + inputs[1] * weights[1] + inputs[2] * weights[2] + bias
    print("Neuron with 3 inputs:", three_inputs)
    print(f"The tutorial printed {TUTORIAL['three_inputs']}; "
          f"the correct result is {three_inputs:.2f}.")

    inputs = [3.2, 1.5, 2.1, 0.9]
    weights = [0.3, -0.8, 0.5, 1.1]
    bias = 1.4
    four_inputs = (inputs[0] * weights[0] + inputs[1] * weights[1]
                   + inputs[2] * weights[2] + inputs[3] * weights[3] + bias)
    print("\nNeuron with 4 inputs:", four_inputs)
    # Decimal fractions such as 0.3 have no exact binary float, so sums pick up
    # rounding errors in the last digit.
    print(f"(Floats are binary: rounded to 2 decimals this is {four_inputs:.2f}.)")
    print(f"The tutorial printed {TUTORIAL['four_inputs']}; "
          f"the correct result is {four_inputs:.2f}.")
    return {"three_inputs": three_inputs, "four_inputs": four_inputs}


if __name__ == "__main__":
    run()
