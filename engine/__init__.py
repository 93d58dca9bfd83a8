"""Gongdan: a git-native work-order platform."""
