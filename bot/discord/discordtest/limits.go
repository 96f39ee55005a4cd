package discordtest

import (
	"fmt"
	"regexp"
	"unicode/utf8"
)

// Discord's limits on a message body
// (https://discord.com/developers/docs/resources/message#create-message-jsonjson-form-params,
// https://discord.com/developers/docs/resources/message#embed-object-embed-limits,
// https://discord.com/developers/docs/interactions/message-components),
// in characters. Discord refuses a body over them with 400, code 50035.
const (
	MaxContent      = 2000
	MaxEmbeds       = 10
	MaxTitle        = 256
	MaxDescription  = 4096
	MaxFields       = 25
	MaxFieldName    = 256
	MaxFieldValue   = 1024
	MaxFooter       = 2048
	MaxAuthor       = 256
	MaxEmbedsTotal  = 6000
	MaxActionRows   = 5
	MaxRowButtons   = 5
	MaxButtonLabel  = 80
	MaxCustomID     = 100
	MaxMentionUsers = 100 // ids in allowed_mentions.users
	errInvalidForm  = 50035
	invalidFormBody = "Invalid Form Body"
)

// snowflake is what Discord takes as an id: a number (a 64-bit integer).
var snowflake = regexp.MustCompile(`^[0-9]{1,20}$`)

// CheckMessage checks a message body, as JSON decodes it (a channel
// message, a webhook follow-up or edit, or an interaction response's
// data), against Discord's limits: content, the users allowed_mentions
// lists (at most 100, each an id), embeds (each part, and all of them together) and buttons.
func CheckMessage(body map[string]any) error {
	if c, _ := body["content"].(string); utf8.RuneCountInString(c) > MaxContent {
		return fmt.Errorf("content has %d characters, more than %d", utf8.RuneCountInString(c), MaxContent)
	}
	if am, ok := body["allowed_mentions"].(map[string]any); ok {
		users, _ := am["users"].([]any)
		if len(users) > MaxMentionUsers {
			return fmt.Errorf("allowed_mentions.users has %d ids, more than %d", len(users), MaxMentionUsers)
		}
		for i, u := range users {
			if s, _ := u.(string); !snowflake.MatchString(s) {
				return fmt.Errorf("allowed_mentions.users[%d]: value %v is not snowflake", i, u)
			}
		}
	}
	embeds, _ := body["embeds"].([]any)
	if len(embeds) > MaxEmbeds {
		return fmt.Errorf("%d embeds, more than %d", len(embeds), MaxEmbeds)
	}
	total := 0
	for i, e := range embeds {
		n, err := checkEmbed(e)
		if err != nil {
			return fmt.Errorf("embed %d: %w", i, err)
		}
		total += n
	}
	if total > MaxEmbedsTotal {
		return fmt.Errorf("the embeds have %d characters in all, more than %d", total, MaxEmbedsTotal)
	}
	rows, _ := body["components"].([]any)
	if len(rows) > MaxActionRows {
		return fmt.Errorf("%d action rows, more than %d", len(rows), MaxActionRows)
	}
	for i, r := range rows {
		row, _ := r.(map[string]any)
		items, _ := row["components"].([]any)
		if len(items) == 0 || len(items) > MaxRowButtons {
			return fmt.Errorf("action row %d has %d components, want 1 to %d", i, len(items), MaxRowButtons)
		}
		for j, c := range items {
			b, _ := c.(map[string]any)
			if err := within(b, "label", MaxButtonLabel); err != nil {
				return fmt.Errorf("row %d, button %d: %w", i, j, err)
			}
			if err := within(b, "custom_id", MaxCustomID); err != nil {
				return fmt.Errorf("row %d, button %d: %w", i, j, err)
			}
		}
	}
	return nil
}

// checkEmbed checks one embed's parts and returns how many characters
// count towards the embeds' total.
func checkEmbed(v any) (int, error) {
	e, ok := v.(map[string]any)
	if !ok {
		return 0, fmt.Errorf("not an object")
	}
	total := 0
	add := func(m map[string]any, key string, max int) error {
		if err := within(m, key, max); err != nil {
			return err
		}
		s, _ := m[key].(string)
		total += utf8.RuneCountInString(s)
		return nil
	}
	if err := add(e, "title", MaxTitle); err != nil {
		return 0, err
	}
	if err := add(e, "description", MaxDescription); err != nil {
		return 0, err
	}
	fields, _ := e["fields"].([]any)
	if len(fields) > MaxFields {
		return 0, fmt.Errorf("%d fields, more than %d", len(fields), MaxFields)
	}
	for i, f := range fields {
		fm, _ := f.(map[string]any)
		if err := add(fm, "name", MaxFieldName); err != nil {
			return 0, fmt.Errorf("field %d: %w", i, err)
		}
		if err := add(fm, "value", MaxFieldValue); err != nil {
			return 0, fmt.Errorf("field %d: %w", i, err)
		}
	}
	if footer, ok := e["footer"].(map[string]any); ok {
		if err := add(footer, "text", MaxFooter); err != nil {
			return 0, fmt.Errorf("footer: %w", err)
		}
	}
	if author, ok := e["author"].(map[string]any); ok {
		if err := add(author, "name", MaxAuthor); err != nil {
			return 0, fmt.Errorf("author: %w", err)
		}
	}
	return total, nil
}

// within checks that m[key], a string when present, has at most max
// characters.
func within(m map[string]any, key string, max int) error {
	s, _ := m[key].(string)
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Errorf("%s has %d characters, more than %d", key, n, max)
	}
	return nil
}
