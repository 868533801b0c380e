"""The digits CNN example: data (``data.load_split``) and training (``train.py``); see README.md."""
