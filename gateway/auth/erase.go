package auth

import (
	"context"
	"encoding/json"

	"gorm.io/gorm"

	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
)

// personalDataKeys are the event data fields that hold personal data.
var personalDataKeys = []string{"email", "new_email", "old_email", "ip", "user_agent"}

// ErasePersonalData erases userID's personal data from the audit records
// about it (as subject or actor): the email, ip and user_agent columns
// (events.Erase) and the same fields inside each record's data. The rest
// of each record stays. Pass a transaction to make it part of a deletion.
func ErasePersonalData(ctx context.Context, tx *gorm.DB, userID string) error {
	if err := events.Erase(ctx, tx, userID); err != nil {
		return err
	}
	var rows []struct {
		ID   string `gorm:"column:id"`
		Data string `gorm:"column:data"`
	}
	err := tx.WithContext(ctx).Model(&db.AuditEvent{}).Select("id", "data").
		Where("subject_id = ? OR actor_id = ?", userID, userID).Find(&rows).Error
	if err != nil {
		return err
	}
	for _, r := range rows {
		var data map[string]any
		if json.Unmarshal([]byte(r.Data), &data) != nil {
			continue
		}
		n := len(data)
		for _, k := range personalDataKeys {
			delete(data, k)
		}
		if len(data) == n {
			continue
		}
		b, err := json.Marshal(data)
		if err != nil {
			return err
		}
		if err := tx.WithContext(ctx).Model(&db.AuditEvent{}).Where("id = ?", r.ID).Update("data", string(b)).Error; err != nil {
			return err
		}
	}
	return nil
}
