-- verify_student_softwaresecurephotoverification: final state after edX verify_student
-- migrations 0001..0016 (lms/djangoapps/verify_student/migrations in openedx/edx-platform,
-- now openedx/openedx-platform). See README.md in this folder for where each line comes from.
--
-- Only foreign key kept: copy_id_photo_from_id -> this table's id. The foreign keys
-- user_id and reviewing_user_id -> auth_user.id that edX has are left out so that this
-- file loads without auth_user; the indexes InnoDB builds for them are kept.

CREATE TABLE IF NOT EXISTS `verify_student_softwaresecurephotoverification` (
  -- 0001 CreateModel SoftwareSecurePhotoVerification, in its field order
  `id` int NOT NULL AUTO_INCREMENT,               -- models.AutoField (Django's implicit id)
  -- model_utils StatusField(max_length=100): created, ready, submitted, must_retry, approved, denied
  `status` varchar(100) NOT NULL,
  `status_changed` datetime(6) NOT NULL,          -- model_utils MonitorField(monitor='status')
  `name` varchar(255) NOT NULL,                   -- CharField(max_length=255, blank=True)
  `face_image_url` varchar(255) NOT NULL,         -- URLField(max_length=255, blank=True)
  `photo_id_image_url` varchar(255) NOT NULL,     -- URLField(max_length=255, blank=True)
  `receipt_id` varchar(255) NOT NULL,             -- CharField(max_length=255, db_index=True, default=uuid4)
  `created_at` datetime(6) NOT NULL,              -- DateTimeField(auto_now_add=True, db_index=True)
  `updated_at` datetime(6) NOT NULL,              -- DateTimeField(auto_now=True, db_index=True)
  `display` tinyint(1) NOT NULL,                  -- BooleanField(default=True, db_index=True); deprecated
  `submitted_at` datetime(6) DEFAULT NULL,        -- DateTimeField(null=True, db_index=True)
  `reviewing_service` varchar(255) NOT NULL,      -- CharField(max_length=255, blank=True)
  `error_msg` longtext NOT NULL,                  -- TextField(blank=True)
  `error_code` varchar(50) NOT NULL,              -- CharField(max_length=50, blank=True)
  `photo_id_key` longtext NOT NULL,               -- TextField(max_length=1024): max_length is not enforced in SQL
  `copy_id_photo_from_id` int DEFAULT NULL,       -- ForeignKey('self', null=True)
  `reviewing_user_id` int DEFAULT NULL,           -- ForeignKey(auth_user, null=True); constraint left out
  `user_id` int NOT NULL,                         -- ForeignKey(auth_user); constraint left out
  -- 0011 AddField expiry_email_date (appended); 0011's expiry_date was dropped again by 0014
  `expiry_email_date` datetime(6) DEFAULT NULL,   -- DateTimeField(null=True, db_index=True)
  -- 0013 AddField expiration_date (appended): DateTimeField(null=True, db_index=True,
  -- default=now() + DAYS_GOOD_FOR, Python-side; rows that existed when 0013 ran got one value)
  `expiration_date` datetime(6) DEFAULT NULL,
  PRIMARY KEY (`id`),
  -- db_index=True fields; Django's names are hashed, these are descriptive
  KEY `verify_student_sspv_receipt_id_idx` (`receipt_id`),
  KEY `verify_student_sspv_created_at_idx` (`created_at`),
  KEY `verify_student_sspv_updated_at_idx` (`updated_at`),
  KEY `verify_student_sspv_display_idx` (`display`),
  KEY `verify_student_sspv_submitted_at_idx` (`submitted_at`),
  KEY `verify_student_sspv_expiry_email_date_idx` (`expiry_email_date`),
  KEY `verify_student_sspv_expiration_date_idx` (`expiration_date`),
  -- indexes backing the three foreign keys (named like the constraints)
  KEY `verify_student_sspv_copy_id_photo_from_id_fk` (`copy_id_photo_from_id`),
  KEY `verify_student_sspv_reviewing_user_id_fk` (`reviewing_user_id`),
  KEY `verify_student_sspv_user_id_fk` (`user_id`),
  -- on_delete=CASCADE is emulated by Django in Python: no ON DELETE clause
  CONSTRAINT `verify_student_sspv_copy_id_photo_from_id_fk` FOREIGN KEY (`copy_id_photo_from_id`)
    REFERENCES `verify_student_softwaresecurephotoverification` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
