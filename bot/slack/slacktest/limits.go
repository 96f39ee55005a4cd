package slacktest

import (
	"fmt"
	"unicode/utf8"
)

// Slack's limits on a message (https://api.slack.com/reference/block-kit/blocks,
// https://api.slack.com/reference/block-kit/composition-objects#text,
// https://api.slack.com/methods/chat.postMessage#truncating), in
// characters. Slack refuses a message over a block limit with
// invalid_blocks, and one whose text is over MaxText with msg_too_long.
const (
	MaxBlocks         = 50
	MaxSectionText    = 3000
	MaxSectionFields  = 10
	MaxFieldText      = 2000
	MaxHeaderText     = 150
	MaxContextItems   = 10
	MaxTextObject     = 3000
	MaxActionElements = 25
	MaxButtonText     = 75
	MaxButtonValue    = 2000
	MaxID             = 255
	MaxText           = 40000
)

// CheckMessage checks a message's text and blocks against Slack's limits,
// as Slack does before accepting chat.postMessage or chat.update. It
// returns Slack's error code and what is wrong, or "" and nil.
func CheckMessage(text string, blocks []map[string]any) (code string, err error) {
	if n := utf8.RuneCountInString(text); n > MaxText {
		return "msg_too_long", fmt.Errorf("text has %d characters, more than %d", n, MaxText)
	}
	if err := CheckBlocks(blocks); err != nil {
		return "invalid_blocks", err
	}
	return "", nil
}

// CheckBlocks checks blocks, as JSON decodes them, against Slack's Block
// Kit limits: how many blocks, and the length of each text, field, header
// and button.
func CheckBlocks(blocks []map[string]any) error {
	if len(blocks) > MaxBlocks {
		return fmt.Errorf("%d blocks, more than %d", len(blocks), MaxBlocks)
	}
	for i, b := range blocks {
		if err := checkBlock(b); err != nil {
			return fmt.Errorf("block %d (%v): %w", i, b["type"], err)
		}
	}
	return nil
}

func checkBlock(b map[string]any) error {
	if id, _ := b["block_id"].(string); utf8.RuneCountInString(id) > MaxID {
		return fmt.Errorf("block_id longer than %d", MaxID)
	}
	switch b["type"] {
	case "header":
		return checkText(b["text"], "text", MaxHeaderText)
	case "section":
		fields, _ := b["fields"].([]any)
		if b["text"] == nil && len(fields) == 0 {
			return fmt.Errorf("a section needs text or fields")
		}
		if b["text"] != nil {
			if err := checkText(b["text"], "text", MaxSectionText); err != nil {
				return err
			}
		}
		if len(fields) > MaxSectionFields {
			return fmt.Errorf("%d fields, more than %d", len(fields), MaxSectionFields)
		}
		for i, f := range fields {
			if err := checkText(f, fmt.Sprintf("field %d", i), MaxFieldText); err != nil {
				return err
			}
		}
	case "context":
		items, _ := b["elements"].([]any)
		if len(items) == 0 || len(items) > MaxContextItems {
			return fmt.Errorf("%d elements, want 1 to %d", len(items), MaxContextItems)
		}
		for i, e := range items {
			if m, _ := e.(map[string]any); m["type"] == "plain_text" || m["type"] == "mrkdwn" {
				if err := checkText(e, fmt.Sprintf("element %d", i), MaxTextObject); err != nil {
					return err
				}
			}
		}
	case "actions":
		items, _ := b["elements"].([]any)
		if len(items) == 0 || len(items) > MaxActionElements {
			return fmt.Errorf("%d elements, want 1 to %d", len(items), MaxActionElements)
		}
		for i, e := range items {
			m, _ := e.(map[string]any)
			if m["type"] != "button" {
				continue
			}
			if err := checkText(m["text"], fmt.Sprintf("button %d", i), MaxButtonText); err != nil {
				return err
			}
			if v, _ := m["value"].(string); utf8.RuneCountInString(v) > MaxButtonValue {
				return fmt.Errorf("button %d: value longer than %d", i, MaxButtonValue)
			}
			if id, _ := m["action_id"].(string); utf8.RuneCountInString(id) > MaxID {
				return fmt.Errorf("button %d: action_id longer than %d", i, MaxID)
			}
		}
	}
	return nil
}

// checkText checks a text object: its type, and that its text is there
// and at most max characters.
func checkText(v any, what string, max int) error {
	t, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("%s is not a text object", what)
	}
	if t["type"] != "plain_text" && t["type"] != "mrkdwn" {
		return fmt.Errorf("%s has type %v", what, t["type"])
	}
	s, _ := t["text"].(string)
	n := utf8.RuneCountInString(s)
	if n == 0 {
		return fmt.Errorf("%s is empty", what)
	}
	if n > max {
		return fmt.Errorf("%s has %d characters, more than %d", what, n, max)
	}
	return nil
}
