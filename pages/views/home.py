"""Welcome: what this is and what to do first."""

import streamlit as st

from cnn_core.convolution import KERNELS, apply_kernel
from cnn_core.inspection import stretch
from pages import common

st.title("Learn how a CNN sees, by training one")
st.markdown(
    "A **convolutional neural network** learns small filters that find edges, colours and shapes, "
    "then combines them to tell an airplane from a frog. Here you train one on tiny 32x32 photos "
    "(CIFAR-10), watch it learn, and change what it is made of to see why each choice matters."
)
if not common.store().list():
    st.info(
        "**First time here?** Open **Train** and press **Start**: the tutorial's network trains on the bundled "
        "photos in under a minute, and you watch the loss fall as it learns.",
        icon=":material/waving_hand:",
    )

st.subheader("What to try")
one, two, three = st.columns(3)
with one:
    st.markdown(
        "**1. Train**  \nPick settings, press Start, watch the curves. Try a learning rate of 1 and see what happens."
    )
    st.page_link(common.PAGES["train"], label="Train a network", icon=":material/play_circle:", width="stretch")
with two:
    st.markdown("**2. Change the layers**  \nAdd a convolution or pooling layer and see every shape recomputed.")
    st.page_link(
        common.PAGES["architecture"], label="Edit the architecture", icon=":material/account_tree:", width="stretch"
    )
with three:
    st.markdown(
        "**3. Look inside**  \nSee the filters it learned, what each layer sees, and which classes it mixes up."
    )
    st.page_link(common.PAGES["inside"], label="See what it learned", icon=":material/grid_view:", width="stretch")

st.subheader("The idea in one picture")
st.markdown(
    "A 3x3 **kernel** slides over the image (**convolution**), negative answers become zero (**ReLU**), and "
    "**max pooling** keeps the strongest answer in each 2x2 square, halving the size. Each output side is "
    "`(in - kernel + 2*padding) // stride + 1` pixels."
)
# The picture: one real photo from the bundled sample through the three steps, as the Convolution
# page computes them (cnn_core.convolution), each step's output stretched to black..white.
sample = common.get_dataset("sample")
photo = sample.test_images[int((sample.test_labels == sample.classes.index("horse")).nonzero()[0])]  # a clear one
steps = apply_kernel(photo, KERNELS["edge detection"], padding=1)
panels = [
    (photo, "The photo: 32x32 pixels"),
    (stretch(steps.filtered), "A 3x3 edge kernel slid over it: 32x32"),
    (stretch(steps.activated), "ReLU: negative answers become 0"),
    (stretch(steps.pooled), "Max pool 2x2: the strongest answer of each square, 16x16"),
]
for column, (image, caption) in zip(st.columns(4), panels, strict=True):
    factor = 8 if image.shape[-1] <= 16 else 4
    column.image(common.to_image(common.enlarge(image, factor)), caption=caption, width="stretch")
st.page_link(common.PAGES["convolution"], label="Try a kernel on a photo", icon=":material/blur_on:")
